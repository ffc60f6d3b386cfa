package pcr

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/pkg/gpt"
)

// disk is an in-memory disk for a table writer.
type disk []byte

func (d disk) WriteAt(p []byte, off int64) (int, error) { return copy(d[off:], p), nil }

// TestGPTEvent: the event of a table is what GPTEventData reads from a
// disk the table was written to, whether its GUIDs are given or derived.
func TestGPTEvent(t *testing.T) {
	const sectors = 8192
	tests := []struct {
		name  string
		table func() *gpt.Table
	}{
		{"derived GUIDs", func() *gpt.Table {
			return &gpt.Table{Sectors: sectors, Partitions: []gpt.Partition{
				{Type: gpt.TypeESP, Name: "esp", FirstLBA: 2048, LastLBA: 4095},
				{Type: gpt.TypeLinuxData, Name: "data", FirstLBA: 4096, LastLBA: 6143, Attributes: gpt.AttrReadOnly},
			}}
		}},
		{"given GUIDs", func() *gpt.Table {
			return &gpt.Table{Sectors: sectors, DiskGUID: gpt.NewGUID([]byte("disk")), Partitions: []gpt.Partition{
				{Type: gpt.TypeRootX86_64, GUID: gpt.NewGUID([]byte("root")), Name: "root-x86-64", FirstLBA: 2048, LastLBA: 6143},
			}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := make(disk, sectors*gpt.SectorSize)
			if err := tt.table().Write(d); err != nil {
				t.Fatal(err)
			}
			want, err := GPTEventData(bytes.NewReader(d))
			if err != nil {
				t.Fatal(err)
			}
			got, err := GPTEvent(tt.table())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("GPTEvent = %x, want (read from the disk) %x", got, want)
			}
		})
	}
	if _, err := GPTEvent(&gpt.Table{Sectors: 1}); err == nil {
		t.Error("GPTEvent of a table too large for its disk succeeded")
	}
}

// TestGPTEventDataShort: a disk that ends before its GPT is ErrShortDisk,
// said with what to do, not "GPT header: EOF".
func TestGPTEventDataShort(t *testing.T) {
	for _, n := range []int{0, 300, 600} {
		_, err := GPTEventData(bytes.NewReader(make([]byte, n)))
		if !errors.Is(err, ErrShortDisk) || strings.Contains(err.Error(), "EOF") || !strings.Contains(err.Error(), "build or pull the image again") {
			t.Errorf("GPTEventData(%d bytes) = %v, want ErrShortDisk with what to do", n, err)
		}
	}
}
