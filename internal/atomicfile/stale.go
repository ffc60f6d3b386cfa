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
// locked by their owner with a shared flock(2) lock for as long as it works
// on them; the kernel drops the lock when the owner exits, however it
// exits. A later run of the same kind removes those of its prefix whose
// exclusive lock it can take: leftovers of a run that was killed (SIGKILL,
// a crash, a power loss), never the work of one still running.
//
// An owner creates its entry and only then locks it. So that no cleanup
// takes an entry in between for a leftover, owners create and lock under
// the parent directory's shared lock (creating), and RemoveStale looks
// under its exclusive one. The locks are shared so that an owner can
// create entries inside its own temporary directory: that directory is
// then the parent, already locked by the same owner.

// TempDir is a locked temporary directory.
type TempDir struct {
	Path string
	lock *os.File
}

// MkdirTemp removes stale directories parent/prefix* (see above), then
// creates a new one and locks it.
func MkdirTemp(parent, prefix string) (*TempDir, error) {
	RemoveStale(parent, prefix)
	done, err := creating(parent)
	if err != nil {
		return nil, err
	}
	defer done()
	p, err := os.MkdirTemp(parent, prefix+"*")
	if err != nil {
		return nil, err
	}
	f, err := lockPath(p, unix.LOCK_SH)
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

// lockPath opens p and takes its flock(2) lock of kind how (LOCK_SH for
// an owner, LOCK_EX for a cleanup), failing if that conflicts with a lock
// another open file holds.
func lockPath(p string, how int) (*os.File, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", p, err)
	}
	return f, nil
}

// parentLockWait bounds how long an owner waits for a cleanup of its
// parent directory to finish looking (which takes the locks of leftovers,
// not their removal: milliseconds).
const parentLockWait = 10 * time.Second

// creating holds parent's shared lock until the returned function is
// called: around creating and locking a temporary entry there. A parent
// that cannot be opened for reading cannot be locked by a cleanup either
// (RemoveStale then leaves it alone): creating goes on without the lock.
func creating(parent string) (done func(), err error) {
	d, err := os.Open(parent)
	if err != nil {
		return func() {}, nil
	}
	deadline := time.Now().Add(parentLockWait)
	for {
		err := unix.Flock(int(d.Fd()), unix.LOCK_SH|unix.LOCK_NB)
		if err == nil {
			return func() { d.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			d.Close()
			return nil, fmt.Errorf("locking directory %s: %w", parent, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// RemoveStale removes the entries parent/prefix* that no live process
// holds locked, and returns their names. It looks under parent's exclusive
// lock, so an entry an owner has created but not yet locked is not among
// them, and removes them after letting go of it, holding their own locks.
// When it cannot take that lock at once (an owner is creating there, or
// parent is an owner's own temporary directory, or it cannot be read), it
// leaves everything for a later run.
func RemoveStale(parent, prefix string) []string {
	// parent itself may be reached through a symbolic link (an output
	// directory's parent often is): followed, as creating follows it, so
	// both lock the same directory.
	d, err := os.Open(parent)
	if err != nil {
		return nil
	}
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		d.Close()
		return nil
	}
	ents, err := os.ReadDir(parent)
	if err != nil {
		d.Close()
		return nil
	}
	type stale struct {
		name string
		lock *os.File
	}
	var found []stale
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), prefix) || e.Type()&os.ModeSymlink != 0 {
			continue
		}
		f, err := lockPath(filepath.Join(parent, e.Name()), unix.LOCK_EX)
		if err != nil {
			continue // its owner is alive, or it is gone
		}
		found = append(found, stale{e.Name(), f})
	}
	d.Close()
	var removed []string
	for _, s := range found {
		os.RemoveAll(filepath.Join(parent, s.name))
		s.lock.Close()
		removed = append(removed, s.name)
	}
	return removed
}
