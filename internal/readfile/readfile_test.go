package readfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	os.WriteFile(small, []byte("12345"), 0o644)
	sparse := filepath.Join(dir, "sparse")
	os.WriteFile(sparse, nil, 0o644)
	os.Truncate(sparse, 1<<40)
	fifo := filepath.Join(dir, "fifo")
	syscall.Mkfifo(fifo, 0o644)
	zero := filepath.Join(dir, "zero")
	os.Symlink("/dev/zero", zero)

	if b, err := ReadFile(small, 5); err != nil || string(b) != "12345" {
		t.Errorf("ReadFile(small, 5) = %q, %v", b, err)
	}
	for _, tt := range []struct {
		path string
		max  int64
		too  bool
	}{{small, 4, true}, {sparse, 1 << 20, true}, {fifo, 1 << 20, false}, {zero, 1 << 20, false}} {
		start := time.Now()
		_, err := ReadFile(tt.path, tt.max)
		if err == nil || errors.Is(err, ErrTooLarge) != tt.too {
			t.Errorf("ReadFile(%s, %d) = %v", filepath.Base(tt.path), tt.max, err)
		}
		if time.Since(start) > 2*time.Second {
			t.Errorf("ReadFile(%s) took %v", filepath.Base(tt.path), time.Since(start))
		}
	}
}
