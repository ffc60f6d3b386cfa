package erofs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/fstree"
)

type badContent struct{ declared, actual int }

func (b badContent) Size() int64 { return int64(b.declared) }
func (b badContent) Open() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(make([]byte, b.actual))), nil
}

// bigContent is a file of size bytes, zero except for a marker at its end,
// generated on the fly.
type bigContent struct{ size int64 }

const bigMarker = "end of a file past 4 GiB"

func (c bigContent) Size() int64 { return c.size }
func (c bigContent) Open() (io.ReadCloser, error) {
	return io.NopCloser(io.MultiReader(io.LimitReader(zeroReader{}, c.size-int64(len(bigMarker))), strings.NewReader(bigMarker))), nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// sparseFile skips writing all-zero chunks, so a mostly-zero image of
// several GiB costs no disk.
type sparseFile struct{ *os.File }

var zeroChunk = make([]byte, chunkSize)

func (s sparseFile) WriteAt(p []byte, off int64) (int, error) {
	for q := p; len(q) > 0; {
		n := min(len(q), len(zeroChunk))
		if !bytes.Equal(q[:n], zeroChunk[:n]) {
			return s.File.WriteAt(p, off)
		}
		q = q[n:]
	}
	return len(p), nil
}

// TestLargeFile writes a file past 4 GiB (extended inode, 64-bit size)
// and reads its last bytes back through the kernel.
func TestLargeFile(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 4.1 GiB (sparse) image")
	}
	testenv.Root(t)
	size := int64(4<<30 + 12345)
	tr := fstree.New()
	tr.WriteFile("big", fstree.Header{Mode: 0o644, Mtime: epoch}, bigContent{size})
	tr.WriteFile("small", fstree.Header{Mode: 0o644, Mtime: epoch}, fstree.Bytes("after the big one"))
	img := filepath.Join(t.TempDir(), "big.erofs")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	im, err := Write(sparseFile{f}, tr, Options{Epoch: epoch, UUID: [16]byte{1}})
	if err == nil {
		err = f.Truncate(im.Size)
	}
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "erofs", "-o", "loop,ro", img, mnt).CombinedOutput(); err != nil {
		testenv.Missing(t, fmt.Sprintf("loop-mounting erofs (%v: %s)", err, bytes.TrimSpace(out)), "the erofs kernel module")
	}
	defer exec.Command("umount", mnt).Run()
	bf, err := os.Open(filepath.Join(mnt, "big"))
	if err != nil {
		t.Fatal(err)
	}
	defer bf.Close()
	fi, _ := bf.Stat()
	tail := make([]byte, len(bigMarker)+3)
	if _, err := bf.ReadAt(tail, size-int64(len(tail))); err != nil {
		t.Fatal(err)
	}
	if fi.Size() != size || string(tail) != "\x00\x00\x00"+bigMarker {
		t.Errorf("big: size %d, tail %q; want %d, %q", fi.Size(), tail, size, bigMarker)
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "small")); string(b) != "after the big one" {
		t.Errorf("small = %q, %v", b, err)
	}
}

// failingWriter fails every write at or past offset limit.
type failingWriter struct{ limit int64 }

func (f failingWriter) WriteAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.limit {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

// TestWriteErrors: a failing output is reported, whether it fails in the
// data area or in the metadata written last, and nothing hangs.
func TestWriteErrors(t *testing.T) {
	tr := sampleTree(t)
	img, err := Write(discard{}, tr, Options{Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int64{0, 1 << 20, img.Size - 1} {
		done := make(chan error, 1)
		go func() {
			_, err := Write(failingWriter{limit}, tr, Options{Epoch: epoch})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "disk full") {
				t.Errorf("limit %d: Write = %v, want the writer's error", limit, err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("limit %d: Write did not return", limit)
		}
	}
}

// TestDerivedUUID: the derived UUID follows the data as well as the
// metadata, and is what dump.erofs reads.
func TestDerivedUUID(t *testing.T) {
	uuid := func(data []byte, mode uint32) [16]byte {
		tr := fstree.New()
		tr.WriteFile("f", fstree.Header{Mode: mode, Mtime: epoch}, fstree.Bytes(data))
		img, err := Write(discard{}, tr, Options{Epoch: epoch})
		if err != nil {
			t.Fatal(err)
		}
		return img.UUID
	}
	data := make([]byte, 3*BlockSize) // whole blocks: no byte of it in the metadata
	a := uuid(data, 0o644)
	data[5000] = 1
	if b := uuid(data, 0o644); b == a {
		t.Error("changing a data block kept the UUID")
	}
	if c := uuid(make([]byte, 3*BlockSize), 0o600); c == a {
		t.Error("changing a mode kept the UUID")
	}
	if a[6]>>4 != 8 || a[8]>>6 != 2 {
		t.Errorf("UUID %x is not RFC 9562 version 8", a)
	}

	dump := testenv.Tool(t, "dump.erofs", "erofs-utils")
	p := filepath.Join(t.TempDir(), "img")
	f, _ := os.Create(p)
	tr := fstree.New()
	tr.WriteFile("f", fstree.Header{Mode: 0o644}, fstree.Bytes(data))
	img, err := Write(f, tr, Options{Epoch: epoch})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	u := img.UUID
	want := fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
	if out, err := exec.Command(dump, "-s", p).CombinedOutput(); err != nil || !strings.Contains(string(out), want) {
		t.Errorf("dump.erofs -s (%v) lacks UUID %s:\n%s", err, want, out)
	}
}
