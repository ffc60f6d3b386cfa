package fstree

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// FromDir reads the host directory dir into a new tree: types, permission
// bits, owners, mtimes, extended attributes, symlink targets, device
// numbers and hard links (by device and inode number). File contents stay
// on disk as HostFile and are read when a writer needs them. Sockets are
// refused: no image format we write can use one.
func FromDir(dir string) (*Tree, error) {
	t := New()
	seen := map[[2]uint64]*Node{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no stat information", p)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		n := &Node{
			Mode:  uint32(st.Mode) & ModePerm,
			UID:   st.Uid,
			GID:   st.Gid,
			Mtime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec),
		}
		if n.Xattrs, err = hostXattrs(p); err != nil {
			return err
		}
		key := [2]uint64{st.Dev, st.Ino}
		if old := seen[key]; old != nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return t.Add(rel, old)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if rel == "." {
				r := t.Root()
				r.Mode, r.UID, r.GID, r.Mtime, r.Xattrs = n.Mode, n.UID, n.GID, n.Mtime, n.Xattrs
				return nil
			}
			n.Type = Dir
		case unix.S_IFREG:
			n.Type = Regular
			n.Content = HostFile{Path: p, Len: st.Size}
		case unix.S_IFLNK:
			n.Type = Symlink
			if n.Target, err = os.Readlink(p); err != nil {
				return err
			}
		case unix.S_IFCHR, unix.S_IFBLK:
			n.Type = CharDevice
			if st.Mode&unix.S_IFMT == unix.S_IFBLK {
				n.Type = BlockDevice
			}
			n.Major, n.Minor = unix.Major(st.Rdev), unix.Minor(st.Rdev)
		case unix.S_IFIFO:
			n.Type = FIFO
		default:
			return fmt.Errorf("%s: unsupported file type %#o", p, st.Mode&unix.S_IFMT)
		}
		if st.Nlink > 1 && n.Type != Dir {
			seen[key] = n
		}
		return t.Add(rel, n)
	})
	if err != nil {
		return nil, fmt.Errorf("fstree: reading %s: %w", dir, err)
	}
	return t, nil
}

func hostXattrs(p string) (map[string][]byte, error) {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing xattrs of %s: %w", p, err)
	}
	var out map[string][]byte
	for _, name := range splitNul(buf[:n]) {
		val := make([]byte, 65536)
		m, err := unix.Lgetxattr(p, name, val)
		if err != nil {
			return nil, fmt.Errorf("reading xattr %s of %s: %w", name, p, err)
		}
		if out == nil {
			out = map[string][]byte{}
		}
		out[name] = val[:m:m]
	}
	return out, nil
}

func splitNul(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != 0 {
			i++
		}
		if i > 0 {
			out = append(out, string(b[:i]))
		}
		if i < len(b) {
			i++
		}
		b = b[i:]
	}
	return out
}
