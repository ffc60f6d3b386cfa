package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Dir is an output directory being filled. Artifacts are written into a
// temporary sibling directory; Commit renames it into place, so a build that
// fails or is interrupted leaves no output directory behind (and never a
// mixture of old and new artifacts).
type Dir struct {
	Path   string // the temporary directory to write into
	target string
	done   bool
	tmp    *TempDir
}

// CreateDir starts an output directory at target. An existing target is
// replaced only when Commit succeeds. Stale temporary directories of
// earlier runs for the same target that were killed are removed.
func CreateDir(target string, perm os.FileMode) (*Dir, error) {
	target = filepath.Clean(target)
	parent, base := filepath.Split(target)
	if parent == "" {
		parent = "."
	}
	tmp, err := MkdirTemp(parent, "."+base+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("creating output directory %s: %w", target, err)
	}
	if err := os.Chmod(tmp.Path, perm); err != nil {
		tmp.Remove()
		return nil, fmt.Errorf("creating output directory %s: %w", target, err)
	}
	return &Dir{Path: tmp.Path, target: target, tmp: tmp}, nil
}

// Commit moves the finished directory into place, replacing an older one.
func (d *Dir) Commit() error {
	if d.done {
		return fmt.Errorf("atomicfile: commit of %s after commit or abort", d.target)
	}
	if err := syncDir(d.Path); err != nil {
		d.Abort()
		return err
	}
	if _, err := os.Lstat(d.target); err == nil {
		// Swap the two directories in one step, so that a crash or kill
		// leaves either the old directory or the new one at target,
		// never neither; the old one then sits at d.Path and goes.
		err := unix.Renameat2(unix.AT_FDCWD, d.Path, unix.AT_FDCWD, d.target, unix.RENAME_EXCHANGE)
		if err == nil {
			d.done = true
			d.tmp.Remove() // the old directory, now at d.Path
			return syncDir(filepath.Dir(d.target))
		}
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
			d.Abort()
			return fmt.Errorf("replacing %s: %w", d.target, err)
		}
		// No RENAME_EXCHANGE on this file system: two renames.
	}
	old := ""
	if _, err := os.Lstat(d.target); err == nil {
		// Locked while it sits at the .old name, so that no other run
		// takes it for a leftover before it is removed.
		if l, err := lockPath(d.target, unix.LOCK_SH); err == nil {
			defer l.Close()
		}
		old = d.Path + ".old"
		if err := os.Rename(d.target, old); err != nil {
			d.Abort()
			return fmt.Errorf("replacing %s: %w", d.target, err)
		}
	}
	if err := os.Rename(d.Path, d.target); err != nil {
		if old != "" {
			os.Rename(old, d.target)
		}
		d.Abort()
		return fmt.Errorf("writing %s: %w", d.target, err)
	}
	d.done = true
	d.tmp.unlock()
	if old != "" {
		os.RemoveAll(old)
	}
	return syncDir(filepath.Dir(d.target))
}

// Abort removes the partial directory. Safe to call at any time.
func (d *Dir) Abort() {
	if d.done {
		return
	}
	d.done = true
	d.tmp.Remove()
}
