package gpt

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"
)

// maxArray bounds the entry array a header may claim, so that a hostile
// header cannot make the reader allocate much (the usual array is 16 KiB).
const maxArray = 1 << 20

// Read reads the partition table of a disk of size bytes. It tries
// 512-byte sectors, then 4096-byte ones; for each, the primary header and,
// if that is damaged, the backup at the last sector. Table.Damaged says
// which header is damaged when one is. Unused entries (zero type GUID) are
// left out of Partitions; Number keeps each entry's place.
func Read(r io.ReaderAt, size int64) (*Table, error) {
	var errs []string
	for _, ss := range []int64{512, 4096} {
		sectors := size / ss
		if sectors < 3 {
			continue
		}
		t, err := readAt(r, ss, 1, uint64(sectors))
		if err == nil {
			if _, berr := readAt(r, ss, sectors-1, uint64(sectors)); berr != nil {
				t.Damaged = append(t.Damaged, "backup GPT "+berr.Error())
			}
			return t, nil
		}
		errs = append(errs, err.Error())
		if t, berr := readAt(r, ss, sectors-1, uint64(sectors)); berr == nil {
			t.Damaged = append(t.Damaged, "primary GPT "+err.Error()+": the table shown is the backup's")
			return t, nil
		} else {
			errs = append(errs, berr.Error())
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w: disk of %d bytes is too small", ErrNoTable, size)
	}
	return nil, fmt.Errorf("%w (%s)", ErrNoTable, strings.Join(errs, "; "))
}

func readAt(r io.ReaderAt, ss, lba int64, sectors uint64) (*Table, error) {
	h := make([]byte, ss)
	if _, err := r.ReadAt(h, lba*ss); err != nil {
		return nil, fmt.Errorf("reading header at LBA %d: %w", lba, err)
	}
	where := fmt.Sprintf("header at LBA %d (%d-byte sectors)", lba, ss)
	if string(h[:8]) != signature {
		return nil, fmt.Errorf("%s: no %q signature", where, signature)
	}
	le := binary.LittleEndian
	if rev := le.Uint32(h[8:]); rev>>16 != 1 {
		return nil, fmt.Errorf("%s: revision %#x is not 1.x", where, rev)
	}
	hs := le.Uint32(h[12:])
	if hs < headerSize || int64(hs) > ss {
		return nil, fmt.Errorf("%s: header size %d", where, hs)
	}
	want := le.Uint32(h[16:])
	le.PutUint32(h[16:], 0)
	if got := crc32.ChecksumIEEE(h[:hs]); got != want {
		return nil, fmt.Errorf("%s: header CRC32 %#08x, stored %#08x", where, got, want)
	}
	if my := le.Uint64(h[24:]); my != uint64(lba) {
		return nil, fmt.Errorf("%s: header says it is at LBA %d", where, my)
	}
	t := &Table{
		SectorSize:     int(ss),
		Sectors:        sectors,
		FirstUsableLBA: le.Uint64(h[40:]),
		LastUsableLBA:  le.Uint64(h[48:]),
		DiskGUID:       decodeGUID(h[56:72]),
	}
	if t.FirstUsableLBA > t.LastUsableLBA || t.LastUsableLBA >= sectors {
		return nil, fmt.Errorf("%s: usable range %d–%d does not fit a disk of %d sectors",
			where, t.FirstUsableLBA, t.LastUsableLBA, sectors)
	}
	arrayLBA := le.Uint64(h[72:])
	n, es := uint64(le.Uint32(h[80:])), uint64(le.Uint32(h[84:]))
	if es < EntrySize || es%EntrySize != 0 || es&(es-1) != 0 {
		return nil, fmt.Errorf("%s: entry size %d is not a power of two ≥ 128", where, es)
	}
	if n*es > maxArray {
		return nil, fmt.Errorf("%s: entry array of %d×%d bytes is larger than %d", where, n, es, maxArray)
	}
	if arrayLBA >= sectors || arrayLBA+(n*es+uint64(ss)-1)/uint64(ss) > sectors {
		return nil, fmt.Errorf("%s: entry array at LBA %d runs past the disk", where, arrayLBA)
	}
	arr := make([]byte, n*es)
	if _, err := r.ReadAt(arr, int64(arrayLBA)*ss); err != nil {
		return nil, fmt.Errorf("%s: reading entry array: %w", where, err)
	}
	if got, want := crc32.ChecksumIEEE(arr), le.Uint32(h[88:]); got != want {
		return nil, fmt.Errorf("%s: entry array CRC32 %#08x, stored %#08x", where, got, want)
	}
	for i := uint64(0); i < n; i++ {
		e := arr[i*es : (i+1)*es]
		typ := decodeGUID(e[0:16])
		if typ.IsZero() {
			continue
		}
		t.Partitions = append(t.Partitions, Partition{
			Number:     int(i) + 1,
			Type:       typ,
			GUID:       decodeGUID(e[16:32]),
			FirstLBA:   le.Uint64(e[32:]),
			LastLBA:    le.Uint64(e[40:]),
			Attributes: le.Uint64(e[48:]),
			Name:       decodeName(e[56:128]),
		})
	}
	if err := checkEntries(t.Partitions, t.FirstUsableLBA, t.LastUsableLBA); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return t, nil
}

// ReadFile reads the partition table of a disk image or a block device
// (whose size Stat does not report, so it is found by seeking to the end).
func ReadFile(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gpt: %w", err)
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("gpt: %s: %w", path, err)
	}
	t, err := Read(f, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}
