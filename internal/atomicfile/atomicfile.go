// Package atomicfile writes artifacts so that a reader (or a crash) never
// sees a half-written file: data goes to a temporary file in the target's
// directory, is fsynced, and is renamed over the target only once complete.
// The directory is fsynced after the rename so the new name survives a power
// loss too.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// File is an output being written. Its contents become visible at the target
// path only when Commit succeeds; Abort (or a failed Commit) removes every
// trace of it. Abort after Commit is a no-op, so `defer f.Abort()` is safe.
type File struct {
	*os.File
	target string
	perm   os.FileMode
	done   bool
}

// Create starts writing target. The temporary file lives in the same
// directory so that the final rename is atomic (same file system).
func Create(target string, perm os.FileMode) (*File, error) {
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	RemoveStale(dir, "."+base+".tmp-")
	done, err := creating(dir)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", target, err)
	}
	defer done()
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", target, err)
	}
	// Locked while being written: see RemoveStale.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("creating %s: locking: %w", target, err)
	}
	return &File{File: f, target: target, perm: perm}, nil
}

// Commit flushes the data to stable storage and moves it into place.
func (f *File) Commit() error {
	if f.done {
		return errors.New("atomicfile: commit after commit or abort")
	}
	err := f.Chmod(f.perm)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), f.target)
	}
	if err != nil {
		f.Abort()
		return fmt.Errorf("writing %s: %w", f.target, err)
	}
	f.done = true
	return syncDir(filepath.Dir(f.target))
}

// Abort discards the output. It is safe to call at any time.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.Name())
}

// WriteFile is os.WriteFile made atomic.
func WriteFile(target string, data []byte, perm os.FileMode) error {
	return Write(target, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write streams an output through fn and commits it only if fn succeeds.
func Write(target string, perm os.FileMode, fn func(io.Writer) error) error {
	f, err := Create(target, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := fn(f); err != nil {
		return fmt.Errorf("writing %s: %w", target, err)
	}
	return f.Commit()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
