package pcr

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/hardenvm/hardenvm/pkg/gpt"
)

// GPTEvent is the UEFI_GPT_DATA of a table as gpt.Table.Write lays it
// out: what GPTEventData reads back from a disk that the table was
// written to, without the disk.
func GPTEvent(t *gpt.Table) ([]byte, error) {
	var head primaryGPT
	if err := t.Write(&head); err != nil {
		return nil, fmt.Errorf("pcr: %w", err)
	}
	return GPTEventData(bytes.NewReader(head[:]))
}

// primaryGPT keeps what a table writer puts in LBA 0–33 (the protective
// MBR, the primary header and its entry array: all that GPTEventData
// reads) and drops the backup at the end of the disk.
type primaryGPT [gpt.FirstUsable * gpt.SectorSize]byte

func (h *primaryGPT) WriteAt(p []byte, off int64) (int, error) {
	if off < int64(len(h)) {
		copy(h[off:], p)
	}
	return len(p), nil
}

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
