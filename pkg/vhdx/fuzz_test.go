package vhdx

import (
	"bytes"
	"io"
	"testing"
)

// memWriter is an io.WriterAt into memory, growing as needed.
type memWriter struct{ b []byte }

func (m *memWriter) WriteAt(p []byte, off int64) (int, error) {
	if end := off + int64(len(p)); end > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, end-int64(len(m.b)))...)
	}
	copy(m.b[off:], p)
	return len(p), nil
}

// rawDisk makes a raw disk from fuzz input: data at sector at, in a disk
// of sectors sectors (at least what data needs).
func rawDisk(data []byte, at, sectors uint16) []byte {
	off := int(at%4096) * 512
	size := max(int(sectors%8192)*512, (off+len(data)+511)/512*512, 512)
	raw := make([]byte, size)
	copy(raw[off:], data)
	return raw
}

// FuzzRoundTrip: what Write writes, Open and ReadAt read back as the raw
// disk, and Write gives the same bytes twice.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), uint16(0), uint16(1))
	f.Add(bytes.Repeat([]byte{1, 0, 2}, 70000), uint16(300), uint16(2000))
	f.Add([]byte{}, uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, at, sectors uint16) {
		raw := rawDisk(data, at, sectors)
		var w, again memWriter
		n, err := Write(&w, bytes.NewReader(raw), int64(len(raw)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if n != int64(len(w.b)) {
			t.Fatalf("Write = %d, wrote %d bytes", n, len(w.b))
		}
		if _, err := Write(&again, bytes.NewReader(raw), int64(len(raw)), Options{}); err != nil || !bytes.Equal(w.b, again.b) {
			t.Fatalf("a second Write gave other bytes (%v)", err)
		}
		x, err := Open(bytes.NewReader(w.b))
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
	})
}

// FuzzOpen: any bytes are refused or read without a panic.
func FuzzOpen(f *testing.F) {
	var w memWriter
	raw := rawDisk([]byte("seed data"), 130, 300)
	if _, err := Write(&w, bytes.NewReader(raw), int64(len(raw)), Options{}); err != nil {
		f.Fatal(err)
	}
	f.Add(w.b)
	f.Add(w.b[:200])
	f.Fuzz(func(t *testing.T, b []byte) {
		x, err := Open(bytes.NewReader(b))
		if err != nil {
			return
		}
		p := make([]byte, 4096)
		for _, off := range []int64{0, x.Size() / 2, x.Size() - 100} {
			x.ReadAt(p, off)
		}
	})
}
