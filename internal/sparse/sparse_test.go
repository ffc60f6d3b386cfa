package sparse

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// writes records the writes Copy makes.
type writes struct {
	buf []byte
	n   int
}

func (w *writes) WriteAt(p []byte, off int64) (int, error) {
	w.n++
	copy(w.buf[off:], p)
	return len(p), nil
}

func TestCopy(t *testing.T) {
	data := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	ones := bytes.Repeat([]byte{1}, Block)
	zeros := make([]byte, Block)
	tests := []struct {
		name   string
		src    []byte
		off    int64
		max    int64
		writes int
		err    error
	}{
		{"empty", nil, 0, 10, 0, nil},
		{"all zeros", data(zeros, zeros), 0, 2 * Block, 0, nil},
		{"data, hole, data", data(ones, zeros, ones), 7, 3 * Block, 2, nil},
		{"short tail", data(zeros, []byte{9}), 0, Block + 1, 1, nil},
		{"more than 1 MiB", bytes.Repeat(ones, 20), 0, 20 * Block, 20, nil},
		{"too long", data(ones, ones), 0, Block, 0, ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &writes{buf: make([]byte, tt.off+int64(len(tt.src)))}
			n, err := Copy(w, tt.off, bytes.NewReader(tt.src), tt.max)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Copy = %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if n != int64(len(tt.src)) || !bytes.Equal(w.buf[tt.off:], tt.src) || w.n != tt.writes {
				t.Errorf("Copy = %d bytes in %d writes, want %d in %d (contents equal: %v)", n, w.n, len(tt.src), tt.writes, bytes.Equal(w.buf[tt.off:], tt.src))
			}
		})
	}
}

// TestCopySparse: the zeros of a copy into a new file take no blocks.
func TestCopySparse(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const size = 64 << 20
	f.Truncate(size)
	src := make([]byte, size)
	copy(src[size/2:], "data")
	if _, err := Copy(f, 0, bytes.NewReader(src), size); err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	if used := st.Sys().(*syscall.Stat_t).Blocks * 512; used > 1<<20 {
		t.Errorf("a 64 MiB copy of 4 bytes of data uses %d bytes on disk", used)
	}
}
