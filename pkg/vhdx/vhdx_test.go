package vhdx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/internal/qemuimgtest"
)

// ext is a run of Len non-zero bytes at Off (qemuimgtest.Extent).
type ext struct {
	off  int64
	n    int
	fill byte
}

func TestWrite(t *testing.T) {
	tests := []struct {
		name    string
		size    int64
		block   int64
		extents []ext
		blocks  int64 // payload blocks the image allocates
	}{
		{"empty disk", 1 << 20, 0, nil, 0},
		{"one sector", 512, 0, []ext{{0, 512, 1}}, 1},
		{"first and last byte", 4 << 20, 0, []ext{{0, 1, 1}, {4<<20 - 1, 1, 2}}, 2},
		{"partial last block", 3<<20 + 512, 0, []ext{{3 << 20, 512, 3}}, 1},
		{"a run across blocks", 8 << 20, 0, []ext{{1<<20 - 10, 2<<20 + 20, 4}}, 4},
		{"32 MiB blocks", 100 << 20, 32 << 20, []ext{{0, 4096, 5}, {70 << 20, 4096, 6}}, 2},
		// 4 GiB of 1 MiB blocks is one chunk: the next block's BAT
		// entry comes after a sector bitmap entry
		{"two chunks", 4<<30 + 2<<20, 0, []ext{{0, 100, 7}, {4<<30 + 1<<20, 100, 8}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.size > 1<<30 && testing.Short() {
				t.Skip("reads 4 GiB of zeros")
			}
			var extents []qemuimgtest.Extent
			for _, e := range tt.extents {
				extents = append(extents, qemuimgtest.Extent{Off: e.off, Len: e.n, Fill: e.fill})
			}
			raw := qemuimgtest.Raw(t, tt.size, extents...)
			p, b := qemuimgtest.Write(t, writer(Options{BlockSize: tt.block}), raw, "disk.vhdx")
			qemuimgtest.Check(t, p, "vhdx", raw)
			// Our reader agrees.
			x, err := Open(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			qemuimgtest.SameAsRaw(t, x, x.Size(), raw)
			bs := tt.block
			if bs == 0 {
				bs = DefaultBlockSize
			}
			entries := (tt.size + bs - 1) / bs
			batLen := (entries*8 + 8*entries/(4096*(1<<20)/bs) + mib - 1) / mib * mib
			if want := batOff + batLen + tt.blocks*bs; int64(len(b)) != want {
				t.Errorf("the image is %d bytes, want %d (%d blocks)", len(b), want, tt.blocks)
			}
			checksums(t, b)
			_, again := qemuimgtest.Write(t, writer(Options{BlockSize: tt.block}), raw, "disk.vhdx")
			if !bytes.Equal(b, again) {
				t.Errorf("a second Write of the same disk gave other bytes")
			}
		})
	}
}

// checksums checks the CRC-32C of both headers and region tables, which
// qemu-img does not all read.
func checksums(t *testing.T, b []byte) {
	t.Helper()
	for _, s := range []struct {
		name     string
		off, len int
	}{{"header 1", header1Off, headerSize}, {"header 2", header2Off, headerSize}, {"region table 1", region1Off, regionTableSize}, {"region table 2", region2Off, regionTableSize}} {
		c := bytes.Clone(b[s.off : s.off+s.len])
		want := binary.LittleEndian.Uint32(c[4:])
		clear(c[4:8])
		if got := crc32.Checksum(c, castagnoli); got != want {
			t.Errorf("%s: CRC-32C %#x, stored %#x", s.name, got, want)
		}
	}
}

func TestGUIDsFromContent(t *testing.T) {
	a := qemuimgtest.Raw(t, 1<<20, qemuimgtest.Extent{Off: 0, Len: 10, Fill: 1})
	b := qemuimgtest.Raw(t, 1<<20, qemuimgtest.Extent{Off: 0, Len: 10, Fill: 2})
	_, ia := qemuimgtest.Write(t, writer(Options{}), a, "disk.vhdx")
	_, ib := qemuimgtest.Write(t, writer(Options{}), b, "disk.vhdx")
	// FileWriteGuid, DataWriteGuid of header 1
	if bytes.Equal(ia[header1Off+16:header1Off+48], ib[header1Off+16:header1Off+48]) {
		t.Errorf("two disks of different content have the same write GUIDs")
	}
}

// writer is Write with options o.
func writer(o Options) qemuimgtest.WriteFunc {
	return func(w io.WriterAt, r io.Reader, size int64) (int64, error) { return Write(w, r, size, o) }
}

func TestWriteRefuses(t *testing.T) {
	tests := []struct {
		name  string
		data  []byte
		size  int64
		block int64
		want  string
	}{
		{"size not sectors", make([]byte, 1000), 1000, 0, "multiple of 512"},
		{"empty", nil, 0, 0, "positive multiple of 512"},
		{"short disk", make([]byte, 512), 1024, 0, "reading the raw disk"},
		{"long disk", make([]byte, 1536), 1024, 0, "longer than 1024"},
		{"block too small", make([]byte, 512), 512, 512 << 10, "block size"},
		{"block too large", make([]byte, 512), 512, 512 << 20, "block size"},
		{"block not a power of two", make([]byte, 512), 512, 3 << 20, "block size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Write(qemuimgtest.Discard{}, bytes.NewReader(tt.data), tt.size, Options{BlockSize: tt.block})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Write = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

var errDisk = errors.New("disk full")

func TestWriteErrorWrapped(t *testing.T) {
	data := append([]byte{1}, make([]byte, 511)...)
	_, err := Write(qemuimgtest.Failing{Err: errDisk}, bytes.NewReader(data), 512, Options{})
	if !errors.Is(err, errDisk) || !strings.HasPrefix(err.Error(), "vhdx: writing block 0") {
		t.Errorf("Write = %v, want errDisk wrapped with its block", err)
	}
}
