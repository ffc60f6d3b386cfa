package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Temporary outputs (files and directories named prefix + random) are
// locked by their owner with flock(2) for as long as it works on them; the
// kernel drops the lock when the owner exits, however it exits. A later
// run of the same kind removes those of its prefix whose lock it can take
// and that have not changed for StaleAge: leftovers of a run that was
// killed (SIGKILL, a crash, a power loss), never the work of one still
// running. The age matters because an owner creates its entry and only
// then locks it: in between, the entry is unlocked but young.

// TempDir is a locked temporary directory.
type TempDir struct {
	Path string
	lock *os.File
}

// MkdirTemp removes stale directories parent/prefix* (see above), then
// creates a new one and locks it.
func MkdirTemp(parent, prefix string) (*TempDir, error) {
	RemoveStale(parent, prefix)
	p, err := os.MkdirTemp(parent, prefix+"*")
	if err != nil {
		return nil, err
	}
	f, err := lockPath(p)
	if err != nil {
		os.RemoveAll(p)
		return nil, err
	}
	return &TempDir{Path: p, lock: f}, nil
}

// Remove deletes the directory and drops the lock. Safe to call twice.
func (d *TempDir) Remove() {
	if d.lock == nil {
		return
	}
	os.RemoveAll(d.Path)
	d.unlock()
}

func (d *TempDir) unlock() {
	if d.lock != nil {
		d.lock.Close()
		d.lock = nil
	}
}

// lockPath opens p and takes its exclusive lock, failing if another
// process holds it.
func lockPath(p string) (*os.File, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", p, err)
	}
	return f, nil
}

// StaleAge is how long a temporary entry must have been left unchanged
// (its mtime) before RemoveStale takes it for a leftover: far longer than
// an owner takes from creating its entry to locking it, short enough that
// a killed run's leftovers go with the next run a minute later.
var StaleAge = time.Minute

// RemoveStale removes the entries parent/prefix* that no live process
// holds locked and that have not changed for StaleAge, and returns their
// names.
func RemoveStale(parent, prefix string) []string {
	ents, err := os.ReadDir(parent)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix) || e.Type()&os.ModeSymlink != 0 {
			continue
		}
		p := filepath.Join(parent, e.Name())
		if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < StaleAge {
			continue // gone meanwhile, or young: perhaps not locked yet
		}
		f, err := lockPath(p)
		if err != nil {
			if errors.Is(err, unix.EWOULDBLOCK) {
				continue // its owner is alive
			}
			continue
		}
		os.RemoveAll(p)
		f.Close()
		removed = append(removed, e.Name())
	}
	return removed
}
