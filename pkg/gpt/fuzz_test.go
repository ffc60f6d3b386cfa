package gpt

import (
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzRead feeds damaged and random disks to Read, each twice: as it is,
// and with the primary header's CRC32s recomputed so that mutations reach
// the checks behind them. Whatever Read accepts must satisfy the
// invariants it promises, and must survive a round trip through Write.
func FuzzRead(f *testing.F) {
	// Small seeds keep the fuzzer's minimization quick: a 4-entry array
	// (one sector) instead of the writer's 16 KiB one.
	d := compactDisk()
	f.Add([]byte(d))
	f.Add([]byte(d[:6*SectorSize])) // primary only
	f.Add(make([]byte, 4096*4))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkRead(t, b)
		checkRead(t, fixCRCs(b))
	})
}

// fixCRCs returns a copy of b whose primary header (512-byte sectors)
// carries correct CRC32s for whatever else it says.
func fixCRCs(in []byte) []byte {
	b := append([]byte(nil), in...)
	if len(b) < 2*SectorSize {
		return b
	}
	le := binary.LittleEndian
	h := b[SectorSize : 2*SectorSize]
	lba, n, es := le.Uint64(h[72:]), uint64(le.Uint32(h[80:])), uint64(le.Uint32(h[84:]))
	if n*es <= maxArray && lba < uint64(len(b))/SectorSize && lba*SectorSize+n*es <= uint64(len(b)) {
		le.PutUint32(h[88:], crc32.ChecksumIEEE(b[lba*SectorSize:lba*SectorSize+n*es]))
	}
	hs := min(max(le.Uint32(h[12:]), headerSize), SectorSize)
	le.PutUint32(h[16:], 0)
	le.PutUint32(h[16:], crc32.ChecksumIEEE(h[:hs]))
	return b
}

// checkRead runs one input through Read and, if accepted, a round trip.
func checkRead(t *testing.T, b []byte) {
	tb, err := Read(mem(b), int64(len(b)))
	if err != nil {
		return
	}
	if err := checkEntries(tb.Partitions, tb.FirstUsableLBA, tb.LastUsableLBA); err != nil {
		t.Fatalf("Read accepted a bad table: %v", err)
	}
	if tb.SectorSize != SectorSize {
		return
	}
	re := &Table{Sectors: tb.Sectors, DiskGUID: tb.DiskGUID}
	for _, p := range tb.Partitions {
		p.Number = 0
		re.Partitions = append(re.Partitions, p)
	}
	out := make(mem, len(b))
	if err := re.Write(out); err != nil {
		return // e.g. a partition outside the standard usable range
	}
	back, err := Read(out, int64(len(out)))
	if err != nil {
		t.Fatalf("Read(Write(Read(b))): %v", err)
	}
	if diff := cmp.Diff(re, back); diff != "" {
		t.Fatalf("round trip diff (-want +got):\n%s", diff)
	}
}

// compactDisk is a valid 12-sector disk whose headers claim a 4-entry array:
// LBA 0 MBR, 1 header, 2 entries, 3–9 partitions, 10 backup entries, 11
// backup header.
func compactDisk() mem {
	tb := &Table{Sectors: 12, FirstUsableLBA: 3, LastUsableLBA: 9, DiskGUID: NewGUID([]byte("fuzz"))}
	d := make(mem, 12*SectorSize)
	copy(d, protectiveMBR(12))
	arr := d[2*SectorSize : 3*SectorSize]
	parts := []Partition{
		{Type: TypeESP, GUID: NewGUID([]byte("esp")), FirstLBA: 3, LastLBA: 5, Name: "esp"},
		{Type: TypeRootX86_64, GUID: NewGUID([]byte("root")), FirstLBA: 6, LastLBA: 9, Attributes: AttrReadOnly, Name: "root"},
	}
	for i, p := range parts {
		e := arr[i*EntrySize:]
		p.Type.encode(e[0:16])
		p.GUID.encode(e[16:32])
		binary.LittleEndian.PutUint64(e[32:], p.FirstLBA)
		binary.LittleEndian.PutUint64(e[40:], p.LastLBA)
		binary.LittleEndian.PutUint64(e[48:], p.Attributes)
		encodeName(e[56:128], p.Name)
	}
	copy(d[10*SectorSize:], arr)
	crc := crc32.ChecksumIEEE(arr)
	for _, h := range []struct{ my, alt, arr uint64 }{{1, 11, 2}, {11, 1, 10}} {
		b := tb.header(h.my, h.alt, h.arr, crc)
		binary.LittleEndian.PutUint32(b[80:], 4)
		binary.LittleEndian.PutUint32(b[16:], 0)
		binary.LittleEndian.PutUint32(b[16:], crc32.ChecksumIEEE(b[:headerSize]))
		copy(d[h.my*SectorSize:], b)
	}
	return d
}

// FuzzParseGUID: whatever ParseGUID accepts prints back as its lowercase
// self and survives the mixed-endian encoding.
func FuzzParseGUID(f *testing.F) {
	for _, s := range []string{"c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "8BE4DF61-93CA-11D2-AA0D-00E098032B8C", "", "xyz",
		"8be4df6193ca11d2aa0d00e098032b8c0000", "g12a7328-f81f-11d2-ba4b-00a0c93ec93b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGUID(s)
		if err != nil {
			return
		}
		if g.String() != strings.ToLower(s) {
			t.Errorf("ParseGUID(%q).String() = %s", s, g)
		}
		if back := DecodeGUID(AppendGUID(nil, g)); back != g {
			t.Errorf("DecodeGUID(AppendGUID(%s)) = %s", g, back)
		}
	})
}
