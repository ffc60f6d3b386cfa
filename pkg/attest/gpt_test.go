package attest

import (
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/pkg/gpt"
)

func gptEntry(typ gpt.GUID, id byte, name string) []byte {
	e := gpt.AppendGUID(nil, typ)
	e = append(e, make([]byte, 128-len(e))...)
	e[16] = id
	for i, c := range utf16.Encode([]rune(name)) {
		binary.LittleEndian.PutUint16(e[56+2*i:], c)
	}
	return e
}

func gptData(diskGUID byte, entries ...[]byte) []byte {
	h := make([]byte, 92)
	copy(h, "EFI PART")
	h[56] = diskGUID
	binary.LittleEndian.PutUint32(h[84:], 128)
	b := binary.LittleEndian.AppendUint64(h, uint64(len(entries)))
	for _, e := range entries {
		b = append(b, e...)
	}
	return b
}

func TestGPTGrown(t *testing.T) {
	esp := gptEntry(gpt.TypeESP, 1, "esp")
	root := gptEntry(gpt.TypeLinuxData, 2, "root")
	data := gptEntry(gpt.TypeLinuxData, 3, bootparams.DataPartitionName)
	built := gptData(9, esp, root)
	tests := []struct {
		name   string
		logged []byte
		err    string // "" for accepted
	}{
		{"as built", built, ""},
		{"data partition added", gptData(9, esp, root, data), ""},
		{"another disk", gptData(8, esp, root, data), "disk GUID"},
		{"root changed", gptData(9, esp, gptEntry(gpt.TypeLinuxData, 7, "root"), data), "partition 2 (root)"},
		{"foreign partition", gptData(9, esp, root, gptEntry(gpt.TypeLinuxData, 3, "evil")), "evil"},
		{"two data partitions", gptData(9, esp, root, data, data), "extra partitions"},
		{"partition removed", gptData(9, esp), "has 1 partitions"},
		{"truncated", built[:150], "UEFI_GPT_DATA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := gptGrown(built, tt.logged)
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("gptGrown = %v, want accepted", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("gptGrown = %v, want an error about %q", err, tt.err)
			}
		})
	}
}

// FuzzGPTEvent: the UEFI_GPT_DATA parser never panics and what it accepts
// re-assembles to the same bytes.
func FuzzGPTEvent(f *testing.F) {
	f.Add(gptData(1, gptEntry(gpt.TypeESP, 1, "esp")))
	f.Add([]byte("EFI PART"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, entries, err := splitGPTEvent(b)
		if err != nil {
			return
		}
		out := binary.LittleEndian.AppendUint64(append([]byte(nil), h...), uint64(len(entries)))
		for _, e := range entries {
			out = append(out, e...)
		}
		if string(out) != string(b) {
			t.Fatalf("accepted %x but it re-assembles to %x", b, out)
		}
		gptGrown(b, b)
	})
}
