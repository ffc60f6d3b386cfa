package attest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf16"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/pkg/gpt"
)

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
		if gpt.DecodeGUID(e[:16]) != gpt.TypeLinuxData || entryName(e) != bootparams.DataPartitionName {
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
