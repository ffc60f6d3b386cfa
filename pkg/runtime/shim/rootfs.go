package shim

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Rootfs ownership. runc 1.1 cannot ID-map the rootfs (runc 1.2 maps bind
// mounts only, never root.path), so the shim does it before runc starts:
//
//   - "idmap": an ID-mapped clone of the rootfs (open_tree + mount_setattr
//     MOUNT_ATTR_IDMAP + move_mount, Linux ≥5.12, overlayfs ≥5.19) is
//     mounted in the shim's state directory and becomes root.path. Files
//     owned by 0 on disk show as the container's root; nothing is copied or
//     rewritten, image layers stay shared, and the host never sees files
//     owned by the container's range.
//   - "chown": the fallback for kernels or filesystems without ID-mapped
//     mounts: every owner in the rootfs is shifted into the container's
//     range in place (setuid/setgid bits restored). Correct, but it writes
//     every inode (on overlayfs: a copy-up of the whole image).
//
// Bind mount sources get ID-mapped clones too where the filesystem allows
// (so root-owned volumes and the allow-listed engine socket are usable by
// the container's root), else plain clones. Cloning every source into the
// state directory also lets the container's root reach sources whose
// parents (the engine's 0710 data root) it could not traverse.
//
// The clones live in <state>/<container ID> until the container is
// deleted (runc starts every `exec` in the rootfs directory), or until a
// foreground `run` ends.

// mounts is the state of one container's prepared mounts.
type mounts struct {
	dir    string      // <state>/<id>
	points []string    // mounted, to detach
	method string      // rootfs method used: "idmap" or "chown"
	guard  *os.Process // the mount guard, when the container has one
}

// clone mounts a copy of the mount tree at src onto dst (created as a file
// or directory like src), ID-mapped through userns when userns ≥ 0, and
// read-only when ro.
//
// Read-only is set here, on the host's side, and not only by runc inside
// the container: the kernel locks the flags of mounts that reach a mount
// namespace owned by a less privileged user namespace, so the container's
// root (even --privileged) cannot remount them read-write. A read-only
// flag that runc alone sets inside the container's namespace is not locked.
func clone(src, dst string, recursive bool, userns int, ro bool) error {
	flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, src, uint(flags))
	if err != nil {
		return fmt.Errorf("open_tree %s: %w", src, err)
	}
	defer unix.Close(fd)
	attr := &unix.MountAttr{}
	if userns >= 0 {
		attr.Attr_set |= unix.MOUNT_ATTR_IDMAP
		attr.Userns_fd = uint64(userns)
	}
	if ro {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if attr.Attr_set != 0 {
		af := unix.AT_EMPTY_PATH
		if recursive {
			af |= unix.AT_RECURSIVE
		}
		if err := unix.MountSetattr(fd, "", uint(af), attr); err != nil {
			return fmt.Errorf("setting attributes (ID-map %v, read-only %v) of %s: %w", userns >= 0, ro, src, err)
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", src, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		err = os.Mkdir(dst, 0o711)
	} else {
		err = os.WriteFile(dst, nil, 0o600)
	}
	if err != nil {
		return err
	}
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, dst, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount %s: %w", dst, err)
	}
	// Private, so that neither side's later mounts or unmounts propagate.
	if err := unix.Mount("", dst, "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
		unix.Unmount(dst, unix.MNT_DETACH)
		return fmt.Errorf("making %s private: %w", dst, err)
	}
	return nil
}

// prepareMounts sets up rootfs ownership and bind mount sources for spec
// (whose root path is relative to bundle when not absolute) and rewrites
// their paths in spec.
func prepareMounts(spec *specs.Spec, bundle, dir, mode string, base, size uint32) (*mounts, error) {
	cleanStale(dir)
	if err := os.MkdirAll(filepath.Dir(dir), 0o711); err != nil {
		return nil, err
	}
	if err := os.Mkdir(dir, 0o711); err != nil {
		return nil, err
	}
	m := &mounts{dir: dir}
	ok := false
	defer func() {
		if !ok {
			m.release()
		}
	}()
	root := spec.Root.Path
	if !filepath.IsAbs(root) {
		root = filepath.Join(bundle, root)
	}
	if spec.Root.Readonly {
		if err := makeMountPoints(root, spec); err != nil {
			return nil, err
		}
	}
	userns := -1
	if mode == "auto" || mode == "idmap" {
		fd, err := usernsFD(base, size, false)
		if err != nil && mode == "idmap" {
			return nil, err
		}
		if err == nil {
			userns = fd
			defer unix.Close(fd)
		}
	}
	dst := filepath.Join(dir, "rootfs")
	var idErr error
	if userns >= 0 {
		if idErr = clone(root, dst, false, userns, spec.Root.Readonly); idErr == nil {
			m.method = "idmap"
		} else {
			os.Remove(dst) // a failed attempt may have left the mount point
			// overlayfs cannot be ID-mapped itself, its layers can.
			if o, ok, err := overlayAt(root); err != nil {
				idErr = errors.Join(idErr, err)
			} else if ok {
				if err := idmapOverlay(o, dst, dir, userns, base, size, spec.Root.Readonly); err != nil {
					idErr = errors.Join(idErr, err)
					os.Remove(dst)
				} else {
					m.method = "idmap-overlay"
				}
			}
			if m.method == "" && mode == "idmap" {
				return nil, idErr
			}
		}
	}
	if m.method == "" {
		if err := shiftOwners(root, base, size); err != nil {
			return nil, fmt.Errorf("rootfs ownership by chown (ID-mapped mount: %v): %w", idErr, err)
		}
		if err := clone(root, dst, false, -1, spec.Root.Readonly); err != nil {
			return nil, err
		}
		m.method = "chown"
	}
	m.points = append(m.points, dst)
	spec.Root.Path = dst
	for i := range spec.Mounts {
		mt := &spec.Mounts[i]
		if !isBind(mt) {
			continue
		}
		rec := slicesContains(mt.Options, "rbind")
		ro := slicesContains(mt.Options, "ro")
		p := filepath.Join(dir, "m"+strconv.Itoa(i))
		err := errors.New("no user namespace")
		if userns >= 0 {
			err = clone(mt.Source, p, rec, userns, ro)
		}
		if err != nil {
			os.Remove(p)
			if err := clone(mt.Source, p, rec, -1, ro); err != nil {
				return nil, fmt.Errorf("bind mount %s: %w", mt.Source, err)
			}
		}
		m.points = append(m.points, p)
		mt.Source = p
		if ro {
			// Read-only already, and locked for the container: runc's
			// own remount would have to repeat the source's locked
			// flags (nosuid, nodev), which runc 1.1 does not.
			mt.Options = slices.DeleteFunc(mt.Options, func(o string) bool { return o == "ro" })
		}
	}
	ok = true
	return m, nil
}

func isBind(m *specs.Mount) bool {
	return m.Type == "bind" || slicesContains(m.Options, "bind") || slicesContains(m.Options, "rbind")
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// release detaches the prepared mounts from the host and removes the
// state directory. The container's mount namespace keeps its own copies.
func (m *mounts) release() {
	if m.guard != nil {
		m.guard.Kill()
		m.guard.Release()
		m.guard = nil
	}
	for _, p := range m.points {
		unix.Unmount(p, unix.MNT_DETACH)
	}
	m.points = nil
	os.RemoveAll(m.dir)
}

// cleanStale removes what a crashed earlier attempt left in dir.
func cleanStale(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		unix.Unmount(filepath.Join(dir, e.Name()), unix.MNT_DETACH)
	}
	os.RemoveAll(dir)
}

// shiftOwners moves every owner in the tree at root into the container's
// range (IDs below size get base added; others are left alone), keeping
// setuid/setgid bits that chown clears. A tree whose top is already owned
// inside the range is taken as shifted.
func shiftOwners(root string, base, size uint32) error {
	var top unix.Stat_t
	if err := unix.Lstat(root, &top); err != nil {
		return err
	}
	if top.Uid >= base && top.Uid < base+size {
		return nil
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if st.Dev != top.Dev {
			return filepath.SkipDir
		}
		uid, gid := int(st.Uid), int(st.Gid)
		if st.Uid < size {
			uid = int(base + st.Uid)
		}
		if st.Gid < size {
			gid = int(base + st.Gid)
		}
		if err := unix.Lchown(p, uid, gid); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK && st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
			return unix.Chmod(p, st.Mode&0o7777)
		}
		return nil
	})
}

// overlayAt returns the overlay mounted at dir, if one is.
func overlayAt(dir string) (overlayMount, bool, error) {
	r, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return overlayMount{}, false, err
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return overlayMount{}, false, err
	}
	defer f.Close()
	return findOverlay(f, r)
}
