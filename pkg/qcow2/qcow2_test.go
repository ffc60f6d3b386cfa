package qcow2

import (
	"bytes"
	"errors"
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
		name     string
		size     int64
		extents  []ext
		clusters int64 // data clusters the image allocates
	}{
		{"empty disk", 1 << 20, nil, 0},
		{"one sector", 512, []ext{{0, 512, 1}}, 1},
		{"first and last byte", 4 << 20, []ext{{0, 1, 1}, {4<<20 - 1, 1, 2}}, 2},
		{"partial last cluster", 3*ClusterSize + 512, []ext{{3 * ClusterSize, 512, 3}}, 1},
		{"a run across clusters", 8 << 20, []ext{{ClusterSize - 10, 3*ClusterSize + 20, 4}}, 5},
		{"zeros between data", 16 << 20, []ext{{0, 4096, 5}, {10 << 20, 4096, 6}}, 2},
		// beyond the first L2 table's 512 MiB: a second table
		{"two L2 tables", 600 << 20, []ext{{1 << 20, 100, 7}, {590 << 20, 100, 8}}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var extents []qemuimgtest.Extent
			for _, e := range tt.extents {
				extents = append(extents, qemuimgtest.Extent{Off: e.off, Len: e.n, Fill: e.fill})
			}
			raw := qemuimgtest.Raw(t, tt.size, extents...)
			p, b := qemuimgtest.Write(t, Write, raw, "disk.qcow2")
			qemuimgtest.Check(t, p, "qcow2", raw)
			// Our reader agrees.
			x, err := Open(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			qemuimgtest.SameAsRaw(t, x, x.Size(), raw)
			// header, data, at least one L2 table (when mapping), an L1
			// cluster, a refcount block and table
			meta := int64(4)
			if tt.clusters > 0 {
				meta++
			}
			if got := int64(len(b)) / ClusterSize; got < tt.clusters+meta || got > tt.clusters+meta+1 {
				t.Errorf("the image has %d clusters, want %d data clusters and %d or %d of metadata", got, tt.clusters, meta, meta+1)
			}
			_, again := qemuimgtest.Write(t, Write, raw, "disk.qcow2")
			if !bytes.Equal(b, again) {
				t.Errorf("a second Write of the same disk gave other bytes")
			}
		})
	}
}

func TestWriteRefuses(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		size int64
		want string
	}{
		{"size not sectors", make([]byte, 1000), 1000, "multiple of 512"},
		{"negative size", nil, -512, "multiple of 512"},
		{"short disk", make([]byte, 512), 1024, "reading the raw disk"},
		{"long disk", make([]byte, 1536), 1024, "longer than 1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Write(qemuimgtest.Discard{}, bytes.NewReader(tt.data), tt.size)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Write = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

var errDisk = errors.New("disk full")

func TestWriteErrorWrapped(t *testing.T) {
	_, err := Write(qemuimgtest.Failing{Err: errDisk}, io.MultiReader(bytes.NewReader([]byte{1}), bytes.NewReader(make([]byte, 511))), 512)
	if !errors.Is(err, errDisk) || !strings.HasPrefix(err.Error(), "qcow2: writing cluster 0") {
		t.Errorf("Write = %v, want errDisk wrapped with its cluster", err)
	}
}
