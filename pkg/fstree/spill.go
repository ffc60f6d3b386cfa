package fstree

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// Spill keeps file contents out of memory: an unnamed temporary file that
// Store appends to, handing back Content that reads the bytes again when
// a writer needs them. A root filesystem's data then sits in the page
// cache (which the kernel may drop and re-read) instead of the builder's
// heap. Contents smaller than SpillMin stay in memory: a write per small
// file costs more than the bytes it saves. Safe for concurrent use.
//
// The file is unlinked as soon as it is made, so its space is returned
// when the Spill is closed or, failing that, when the process exits (or
// the *os.File is garbage collected).
type Spill struct {
	f   *os.File
	mu  sync.Mutex
	end int64
}

// SpillMin is the smallest content Store puts into the file.
const SpillMin = 16 << 10

// NewSpill makes the temporary file in dir (os.TempDir() when empty).
func NewSpill(dir string) (*Spill, error) {
	f, err := os.CreateTemp(dir, "hardenvm-spill-*")
	if err != nil {
		return nil, fmt.Errorf("fstree: spill file: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("fstree: spill file: %w", err)
	}
	return &Spill{f: f}, nil
}

// Store reads exactly n bytes from r and returns them as Content: in
// memory below SpillMin, else in the spill file.
func (s *Spill) Store(r io.Reader, n int64) (Content, error) {
	if n < 0 {
		return nil, fmt.Errorf("fstree: negative size %d", n)
	}
	if n < SpillMin {
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		return Bytes(b), nil
	}
	s.mu.Lock()
	off := s.end
	s.end += n
	s.mu.Unlock()
	if m, err := io.CopyN(io.NewOffsetWriter(s.f, off), r, n); err != nil {
		return nil, fmt.Errorf("fstree: spilling %d of %d bytes: %w", m, n, err)
	}
	return spilled{f: s.f, off: off, n: n}, nil
}

// Close releases the file; Content it handed out can no longer be read.
func (s *Spill) Close() error { return s.f.Close() }

// spilled is Content kept in a Spill's file.
type spilled struct {
	f      *os.File
	off, n int64
}

func (c spilled) Size() int64 { return c.n }

func (c spilled) Open() (io.ReadCloser, error) {
	return seekNopCloser{io.NewSectionReader(c.f, c.off, c.n)}, nil
}
