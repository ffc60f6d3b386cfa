package qemuimgtest

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// WriteFunc is a disk format's writer (qcow2.Write, or vhdx.Write with
// its options): the image of the raw disk r, size bytes, into w.
type WriteFunc func(w io.WriterAt, r io.Reader, size int64) (int64, error)

// Write writes the image of the raw disk file raw into the test's
// temporary directory as name and returns its path and bytes, failing
// when the length write returns is not the file's.
func Write(t testing.TB, write WriteFunc, raw, name string) (string, []byte) {
	t.Helper()
	in, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	st, _ := in.Stat()
	p := filepath.Join(t.TempDir(), name)
	out, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	n, err := write(out, in, st.Size())
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != n {
		t.Fatalf("Write = %d bytes, the file has %d", n, len(b))
	}
	return p, b
}

// SameAsRaw compares what r reads (a format's reader, size bytes of
// virtual disk) with the raw disk file raw, 1 MiB at a time.
func SameAsRaw(t testing.TB, r io.ReaderAt, size int64, raw string) {
	t.Helper()
	f, err := os.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	if size != st.Size() {
		t.Fatalf("the image's virtual size is %d, want %d", size, st.Size())
	}
	got, want := make([]byte, 1<<20), make([]byte, 1<<20)
	for off := int64(0); off < size; off += 1 << 20 {
		n := min(1<<20, size-off)
		if _, err := r.ReadAt(got[:n], off); err != nil {
			t.Fatalf("ReadAt(%d): %v", off, err)
		}
		if _, err := f.ReadAt(want[:n], off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[:n], want[:n]) {
			t.Fatalf("the image reads other bytes than the raw disk in the MiB at %d", off)
		}
	}
}

// Mem is an io.WriterAt into memory that grows as needed (Bytes).
type Mem struct{ Bytes []byte }

func (m *Mem) WriteAt(p []byte, off int64) (int, error) {
	if end := off + int64(len(p)); end > int64(len(m.Bytes)) {
		m.Bytes = append(m.Bytes, make([]byte, end-int64(len(m.Bytes)))...)
	}
	copy(m.Bytes[off:], p)
	return len(p), nil
}

// Discard is an io.WriterAt that keeps nothing.
type Discard struct{}

func (Discard) WriteAt(p []byte, off int64) (int, error) { return len(p), nil }

// Failing is an io.WriterAt whose every write fails with Err.
type Failing struct{ Err error }

func (f Failing) WriteAt(p []byte, off int64) (int, error) { return 0, f.Err }

// FuzzRaw makes a raw disk from fuzz input: data at sector at (below
// 4096), in a disk of sectors sectors (below 8192) or what data needs,
// and at least one sector.
func FuzzRaw(data []byte, at, sectors uint16) []byte {
	off := int(at%4096) * 512
	size := max(int(sectors%8192)*512, (off+len(data)+511)/512*512, 512)
	raw := make([]byte, size)
	copy(raw[off:], data)
	return raw
}

// Reader is a format's reader of the guest's view.
type Reader interface {
	io.ReaderAt
	Size() int64
}

// RoundTrip writes raw with write twice (the same bytes, and the length
// write says), opens the image with open and checks that it reads back
// raw: the body of a format's round-trip fuzz test.
func RoundTrip(t testing.TB, write WriteFunc, open func(io.ReaderAt) (Reader, error), raw []byte) {
	t.Helper()
	var w, again Mem
	n, err := write(&w, bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(w.Bytes)) {
		t.Fatalf("Write = %d, wrote %d bytes", n, len(w.Bytes))
	}
	if _, err := write(&again, bytes.NewReader(raw), int64(len(raw))); err != nil || !bytes.Equal(w.Bytes, again.Bytes) {
		t.Fatalf("a second Write gave other bytes (%v)", err)
	}
	x, err := open(bytes.NewReader(w.Bytes))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, x.Size())
	if _, err := x.ReadAt(got, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	if !bytes.Equal(got, raw) {
		t.Fatalf("read back %d bytes that differ from the %d-byte raw disk", len(got), len(raw))
	}
}

// FuzzOpen fuzzes open with an image write makes of a small disk (whole,
// and cut short) as seeds: any bytes are refused or read without a panic.
// The body of a format's reader fuzz test.
func FuzzOpen(f *testing.F, write WriteFunc, open func(io.ReaderAt) (Reader, error)) {
	var w Mem
	raw := FuzzRaw([]byte("seed data"), 130, 300)
	if _, err := write(&w, bytes.NewReader(raw), int64(len(raw))); err != nil {
		f.Fatal(err)
	}
	f.Add(w.Bytes)
	f.Add(w.Bytes[:200])
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := open(bytes.NewReader(b))
		if err != nil {
			return
		}
		p := make([]byte, 4096)
		for _, off := range []int64{0, x.Size() / 2, x.Size() - 100} {
			x.ReadAt(p, off)
		}
	})
}
