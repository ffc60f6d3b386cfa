package configimage

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadImageBounded: ReadImage reads only what the image's layout
// covers: a config image followed by a 1 TiB sparse tail reads in an
// instant, and a FIFO is refused without waiting for a writer.
func TestReadImageBounded(t *testing.T) {
	im, err := Build(context.Background(), Options{Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "config.img")
	if err := im.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 1<<40); err != nil {
		t.Skipf("no sparse 1 TiB file here: %v", err)
	}
	start := time.Now()
	got, err := ReadImage(p)
	if err != nil || !bytes.Equal(got.Bytes, im.Bytes) {
		t.Fatalf("ReadImage(image + 1 TiB of holes) = %d bytes, %v; want the %d-byte image", len(got.Bytes), err, len(im.Bytes))
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("ReadImage took %v", took)
	}

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := ReadImage(fifo); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("ReadImage(FIFO) = %v, want a refusal", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadImage(FIFO) waits for a writer")
	}
}
