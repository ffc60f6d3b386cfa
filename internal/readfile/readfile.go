// Package readfile reads files into memory with a bound: only regular
// files (a FIFO, a device or /dev/zero behind a link is refused, never
// waited on or read forever), and at most a given number of bytes.
package readfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// ErrTooLarge is matched by the errors of files over the bound.
var ErrTooLarge = errors.New("file too large")

// Open opens path for reading, refusing anything but a regular file.
func Open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	if err := Regular(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Regular refuses an open file that is not a regular file.
func Regular(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (%v)", f.Name(), st.Mode().Type())
	}
	return nil
}

// ReadFile reads the regular file at path, refusing one over max bytes.
func ReadFile(path string, max int64) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAll(f, max)
}

// ReadAll reads the open file f, refusing one over max bytes (by its size
// before reading, and by what it yields).
func ReadAll(f *os.File, max int64) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d allowed: %w", f.Name(), st.Size(), max, ErrTooLarge)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s grew past %d bytes while being read: %w", f.Name(), max, ErrTooLarge)
	}
	return b, nil
}
