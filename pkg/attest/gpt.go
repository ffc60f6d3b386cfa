package attest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf16"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/pkg/gpt"
)

// GPTEventData reads a disk image's primary GPT (512-byte sectors) as
// edk2 measures it into PCR 5 (EV_EFI_GPT_EVENT): the UEFI_GPT_DATA, i.e.
// the 92-byte partition table header, the number of used entries (UINT64)
// and those entries, in table order.
// Its errors do not name the file: callers do.
func GPTEventData(r io.ReaderAt) ([]byte, error) {
	hdr := make([]byte, 92)
	if _, err := r.ReadAt(hdr, 512); err != nil {
		return nil, gptReadError("header (LBA 1, bytes 512-603)", err)
	}
	if string(hdr[:8]) != "EFI PART" {
		return nil, fmt.Errorf("no GPT header at LBA 1: not a GPT disk image")
	}
	lba := binary.LittleEndian.Uint64(hdr[72:])
	n := binary.LittleEndian.Uint32(hdr[80:])
	size := binary.LittleEndian.Uint32(hdr[84:])
	if n > 1024 || size < 128 || size > 4096 {
		return nil, fmt.Errorf("GPT header: %d entries of %d bytes", n, size)
	}
	table := make([]byte, int(n)*int(size))
	if _, err := r.ReadAt(table, int64(lba)*512); err != nil {
		return nil, gptReadError(fmt.Sprintf("partition entries (LBA %d)", lba), err)
	}
	var used [][]byte
	for i := 0; i < int(n); i++ {
		e := table[i*int(size) : (i+1)*int(size)]
		if !bytes.Equal(e[:16], make([]byte, 16)) {
			used = append(used, e)
		}
	}
	out := append([]byte{}, hdr...)
	out = binary.LittleEndian.AppendUint64(out, uint64(len(used)))
	for _, e := range used {
		out = append(out, e...)
	}
	return out, nil
}

// ErrShortDisk is matched by GPTEventData's error for a disk image that
// ends before its GPT does.
var ErrShortDisk = errors.New("the disk image is too short")

func gptReadError(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: it ends before the GPT %s; it is truncated or not a disk image: build or pull the image again", ErrShortDisk, what)
	}
	return fmt.Errorf("GPT %s: %w", what, err)
}

// splitGPTEvent splits UEFI_GPT_DATA into its header and entries.
func splitGPTEvent(b []byte) (hdr []byte, entries [][]byte, err error) {
	if len(b) < 100 || string(b[:8]) != "EFI PART" {
		return nil, nil, fmt.Errorf("not UEFI_GPT_DATA")
	}
	size := int(binary.LittleEndian.Uint32(b[84:]))
	n := binary.LittleEndian.Uint64(b[92:])
	if size < 128 || n > 1024 || uint64(len(b)-100) != n*uint64(size) {
		return nil, nil, fmt.Errorf("UEFI_GPT_DATA of %d bytes for %d entries of %d", len(b), n, size)
	}
	for i := 0; i < int(n); i++ {
		entries = append(entries, b[100+i*size:100+(i+1)*size])
	}
	return b[:92], entries, nil
}

// gptGrown accepts the GPT a booted disk has after hardenvm-init's first
// boot: the same disk GUID and the built entries unchanged, plus at most
// the data partition stage 2 adds (Linux data, named hardenvm-data).
func gptGrown(built, logged []byte) error {
	bh, be, err := splitGPTEvent(built)
	if err != nil {
		return fmt.Errorf("predicted GPT: %w", err)
	}
	lh, le, err := splitGPTEvent(logged)
	if err != nil {
		return fmt.Errorf("logged GPT: %w", err)
	}
	if !bytes.Equal(bh[56:72], lh[56:72]) {
		return fmt.Errorf("the disk GUID differs: another disk")
	}
	if len(le) < len(be) {
		return fmt.Errorf("the GPT has %d partitions, the image %d", len(le), len(be))
	}
	for i := range be {
		if !bytes.Equal(be[i], le[i]) {
			return fmt.Errorf("partition %d (%s) differs from the image's", i+1, entryName(be[i]))
		}
	}
	for _, e := range le[len(be):] {
		if diskGUID(e[:16]) != gpt.TypeLinuxData || entryName(e) != bootparams.DataPartitionName {
			return fmt.Errorf("an extra partition %q that hardenvm-init does not make", entryName(e))
		}
	}
	if len(le) > len(be)+1 {
		return fmt.Errorf("%d extra partitions; hardenvm-init adds one", len(le)-len(be))
	}
	return nil
}

func entryName(e []byte) string {
	var u []uint16
	for i := 56; i+1 < 128 && i+1 < len(e); i += 2 {
		c := binary.LittleEndian.Uint16(e[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// diskGUID decodes GPT's mixed-endian on-disk GUID.
func diskGUID(b []byte) gpt.GUID {
	var g gpt.GUID
	g[0], g[1], g[2], g[3] = b[3], b[2], b[1], b[0]
	g[4], g[5] = b[5], b[4]
	g[6], g[7] = b[7], b[6]
	copy(g[8:16], b[8:16])
	return g
}
