package vhdx

import (
	"bytes"
	"io"
	"testing"

	"github.com/hardenvm/hardenvm/internal/qemuimgtest"
)

// FuzzRoundTrip: what Write writes, Open and ReadAt read back as the raw
// disk, and Write gives the same bytes twice.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), uint16(0), uint16(1))
	f.Add(bytes.Repeat([]byte{1, 0, 2}, 70000), uint16(300), uint16(2000))
	f.Add([]byte{}, uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, at, sectors uint16) {
		qemuimgtest.RoundTrip(t, writer(Options{}), open, qemuimgtest.FuzzRaw(data, at, sectors))
	})
}

// FuzzOpen: any bytes are refused or read without a panic.
func FuzzOpen(f *testing.F) { qemuimgtest.FuzzOpen(f, writer(Options{}), open) }

func open(r io.ReaderAt) (qemuimgtest.Reader, error) { return Open(r) }
