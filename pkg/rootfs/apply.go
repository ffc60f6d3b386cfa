package rootfs

import (
	"fmt"
	"io"
	"os"
	"path"
	"time"

	"github.com/hardenvm/hardenvm/internal/readfile"
	"github.com/hardenvm/hardenvm/pkg/fstree"
	"github.com/hardenvm/hardenvm/pkg/imagespec"
)

// Apply makes the changes the spec declares, in place of the maintainer
// scripts that never run: /etc/passwd, /etc/group and /etc/shadow from the
// declared users and groups, then directories, files, symlinks and file
// capabilities, in the spec's order. Everything it creates gets mtime
// epoch; missing parent directories are made root-owned 0755. Errors name
// the spec file and line.

// MaxSourceFile bounds a spec file's source: it is read into memory when
// the build starts (so the image holds what the spec pointed at then).
const MaxSourceFile = 256 << 20

func Apply(t *fstree.Tree, s *imagespec.Spec, epoch time.Time) error {
	root := fstree.Header{Mode: 0o755, Mtime: epoch}
	at := func(line int, what string, err error) error {
		return fmt.Errorf("%s:%d: %s: %w", s.Path, line, what, err)
	}
	owner := func(user, group string) (uint32, uint32, error) {
		uid, err := s.UID(user)
		if err != nil {
			return 0, 0, err
		}
		gid, err := s.GID(group)
		if err != nil {
			return 0, 0, err
		}
		return uint32(uid), uint32(gid), nil
	}
	write := func(p string, h fstree.Header, c fstree.Content) error {
		if _, err := t.MkdirAll(path.Dir(path.Clean("/"+p)), root); err != nil {
			return err
		}
		return t.WriteFile(p, h, c)
	}

	shadowGID, shadowMode := uint32(0), uint32(0o600)
	if g, err := s.GID("shadow"); err == nil {
		shadowGID, shadowMode = uint32(g), 0o640 // Debian's root:shadow 0640
	}
	for _, f := range []struct {
		path string
		data []byte
		mode uint32
		gid  uint32
	}{
		{"/etc/passwd", s.PasswdFile(), 0o644, 0},
		{"/etc/group", s.GroupFile(), 0o644, 0},
		{"/etc/shadow", s.ShadowFile(), shadowMode, shadowGID},
	} {
		if err := write(f.path, fstree.Header{Mode: f.mode, GID: f.gid, Mtime: epoch}, fstree.Bytes(f.data)); err != nil {
			return fmt.Errorf("%s: users and groups: %w", s.Path, err)
		}
	}

	for _, d := range s.Directories {
		uid, gid, err := owner(d.Owner, d.Group)
		if err != nil {
			return at(d.Line, "directory "+d.Path, err)
		}
		n, err := t.MkdirAll(d.Path, root)
		if err != nil {
			return at(d.Line, "directory "+d.Path, err)
		}
		// The spec is authoritative over what a package made.
		n.Mode, n.UID, n.GID, n.Mtime = uint32(d.Mode)&fstree.ModePerm, uid, gid, epoch
	}
	for _, f := range s.Files {
		uid, gid, err := owner(f.Owner, f.Group)
		if err != nil {
			return at(f.Line, "file "+f.Path, err)
		}
		data := []byte(f.Contents)
		if f.Source != "" {
			// Read now, so the image holds what the spec pointed at when
			// the build started, whatever happens to the file later.
			if data, err = readfile.ReadFile(f.Source, MaxSourceFile); err != nil {
				return at(f.Line, "file "+f.Path, err)
			}
		}
		h := fstree.Header{Mode: uint32(f.Mode) & fstree.ModePerm, UID: uid, GID: gid, Mtime: epoch}
		if err := write(f.Path, h, fstree.Bytes(data)); err != nil {
			return at(f.Line, "file "+f.Path, err)
		}
	}
	for _, l := range s.Symlinks {
		if _, err := t.MkdirAll(path.Dir(path.Clean("/"+l.Path)), root); err != nil {
			return at(l.Line, "symlink "+l.Path, err)
		}
		if err := t.Symlink(l.Target, l.Path, fstree.Header{Mtime: epoch}); err != nil {
			return at(l.Line, "symlink "+l.Path, err)
		}
	}
	for _, c := range s.Capabilities {
		n, err := t.Stat(c.Path)
		if err != nil {
			return at(c.Line, "capabilities of "+c.Path, err)
		}
		if n.Type != fstree.Regular {
			return at(c.Line, "capabilities of "+c.Path, fmt.Errorf("is a %s, not a regular file", n.Type))
		}
		if n.Xattrs == nil {
			n.Xattrs = map[string][]byte{}
		}
		n.Xattrs[fstree.XattrCapability] = c.Caps.XattrValue()
	}
	return CheckMergedUsr(t)
}

// FromLock is the root filesystem tree of a locked spec: the lock's
// packages (in the lock's order) unpacked from paths (by package name, as
// lockfile.Fetch returns them), then Apply. Kernel and stub packages are boot
// inputs, not part of the root filesystem.
func FromLock(s *imagespec.Spec, l *imagespec.Lock, paths map[string]string, epoch time.Time, opt UnpackOptions) (*fstree.Tree, error) {
	debs := make([]Deb, 0, len(l.Packages))
	for _, p := range l.Packages {
		file, ok := paths[p.Name]
		if !ok {
			return nil, fmt.Errorf("rootfs: %s %s is pinned in the lock but was not fetched", p.Name, p.Version)
		}
		debs = append(debs, Deb{Name: p.Name + "_" + p.Version + "_" + p.Arch, Open: func() (io.ReadCloser, error) { return os.Open(file) }})
	}
	opt.Epoch = epoch
	t, _, err := Unpack(debs, opt)
	if err != nil {
		return nil, err
	}
	if err := Apply(t, s, epoch); err != nil {
		return nil, err
	}
	return t, nil
}

// CheckGuest refuses what the guest init would only find out at boot: a
// service whose command the finished tree does not hold as an executable
// regular file (symlinks followed within the tree), and a data directory
// that is not a directory of the tree.
func CheckGuest(t *fstree.Tree, s *imagespec.Spec) error {
	for _, d := range s.Data {
		if n, err := t.Lookup(d); err != nil || n.Type != fstree.Dir {
			return fmt.Errorf("%s: data: %s is not a directory of the image (declare it under directories)", s.Path, d)
		}
	}
	for _, sv := range s.Services {
		n, err := t.Stat(sv.Command)
		switch {
		case err != nil:
			return fmt.Errorf("%s:%d: service %s: command %s is not in the image (add its package, or a file entry)", s.Path, sv.Line, sv.Name, sv.Command)
		case n.Type != fstree.Regular:
			return fmt.Errorf("%s:%d: service %s: command %s is a %s, not a program", s.Path, sv.Line, sv.Name, sv.Command, n.Type)
		case n.Mode&0o111 == 0:
			return fmt.Errorf("%s:%d: service %s: command %s is not executable (mode %04o)", s.Path, sv.Line, sv.Name, sv.Command, n.Mode&fstree.ModePerm)
		}
	}
	return nil
}
