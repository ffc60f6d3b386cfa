package mountguard

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A mount(2) call, by what its flags make of it (path_mount in
// fs/namespace.c tests them in this order).
type mountKind int

const (
	kindRemountRO   mountKind = iota // MS_REMOUNT with MS_RDONLY
	kindRemountBind                  // MS_REMOUNT|MS_BIND: a mount's own flags
	kindRemountSB                    // MS_REMOUNT: the file system's options
	kindBind                         // MS_BIND: a new mount of a subtree
	kindPropagation                  // MS_SHARED, MS_PRIVATE, MS_SLAVE, MS_UNBINDABLE
	kindMove                         // MS_MOVE
	kindNew                          // a new file system
)

const propagationFlags = unix.MS_SHARED | unix.MS_PRIVATE | unix.MS_SLAVE | unix.MS_UNBINDABLE

func classify(flags uint64) mountKind {
	if flags&0xffff0000 == unix.MS_MGC_VAL {
		flags &= 0xffff // the old magic number in the high half
	}
	switch {
	case flags&unix.MS_REMOUNT != 0 && flags&unix.MS_RDONLY != 0:
		return kindRemountRO
	case flags&unix.MS_REMOUNT != 0 && flags&unix.MS_BIND != 0:
		return kindRemountBind
	case flags&unix.MS_REMOUNT != 0:
		return kindRemountSB
	case flags&unix.MS_BIND != 0:
		return kindBind
	case flags&propagationFlags != 0:
		return kindPropagation
	case flags&unix.MS_MOVE != 0:
		return kindMove
	}
	return kindNew
}

// opened is a path the caller named, opened (O_PATH) in its namespace.
type opened struct {
	fd   int
	mnt  int    // the ID of the mount it is on
	ino  uint64 // its inode
	path string // as the caller sees it
}

// magic is the descriptor's /proc/thread-self/fd link, relative to the
// VM's /proc: a path to exactly the mount and file that were opened.
func (o opened) magic() string { return "thread-self/fd/" + strconv.Itoa(o.fd) }

func (o *opened) close() {
	if o.fd >= 0 {
		unix.Close(o.fd)
		o.fd = -1
	}
}

// openPath opens p as the caller would resolve it (inNamespace), and
// finds the mount it is on.
func openPath(c *caller, proc int, p string, follow bool) (opened, error) {
	return openAt(c, proc, unix.AT_FDCWD, p, false, follow)
}

// openAt opens what the caller names by a directory descriptor and a
// path (the *at convention of the new mount API; empty: an empty path
// names dfd itself), from a thread in its namespace (inNamespace), and
// finds the mount it is on. The caller's descriptors are duplicated
// (pidfd_getfd): they name the file the caller opened, not a path to it.
// A path to one of the caller's own descriptors (/proc/self/fd/N, as
// runc and systemd name mount sources and targets) is opened through the
// caller's entry in the VM's /proc: the thread standing in for it is not
// a process of the container's /proc.
func openAt(c *caller, proc int, dfd int32, p string, empty, follow bool) (opened, error) {
	flags := unix.O_PATH | unix.O_CLOEXEC
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	var fd int
	var err error
	switch n, own := ownFD(p); {
	case own:
		fd, err = unix.Openat(int(c.dir.Fd()), "fd/"+n, unix.O_PATH|unix.O_CLOEXEC, 0)
	case p == "" && !empty:
		return opened{}, unix.ENOENT
	case p == "" && dfd == unix.AT_FDCWD:
		fd, err = unix.Open(".", flags, 0)
	case p == "":
		fd, err = c.getfd(dfd)
	case dfd == unix.AT_FDCWD || p[0] == '/':
		fd, err = unix.Open(p, flags, 0)
	default:
		var base int
		if base, err = c.getfd(dfd); err == nil {
			fd, err = unix.Openat(base, p, flags, 0)
			unix.Close(base)
		}
	}
	if err != nil {
		return opened{}, err
	}
	o := opened{fd: fd}
	var st unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &st); err != nil || st.Mask&unix.STATX_MNT_ID == 0 {
		o.close()
		return opened{}, fmt.Errorf("the mount ID of %s: %v (mask %#x)", p, err, st.Mask)
	}
	o.mnt, o.ino = int(st.Mnt_id), st.Ino
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(proc, "thread-self/fd/"+strconv.Itoa(fd), buf)
	if err == nil {
		o.path = string(buf[:n])
	}
	if err != nil || len(o.path) == 0 || o.path[0] != '/' {
		o.close()
		return opened{}, fmt.Errorf("the path of %s: %q %v", p, o.path, err)
	}
	return o, nil
}

// guardError is a failure of the guard's own, not of what the caller
// named: the call then fails with EIO and the error is logged.
type guardError struct{ err error }

func (e guardError) Error() string { return e.err.Error() }

// at opens what the caller names (openAt) and then reads the caller's
// mounts, so that the table holds the mount the descriptor is on.
func (c *caller) at(proc int, dfd int32, p string, empty, follow bool) (opened, Table, error) {
	o, err := openAt(c, proc, dfd, p, empty, follow)
	if err != nil {
		return o, Table{}, err
	}
	t, err := c.table()
	if err != nil {
		o.close()
		return opened{}, Table{}, guardError{err}
	}
	return o, t, nil
}

// failed answers a call whose lookup (at) failed: with the caller's
// errno, or, for a failure of the guard's own, with the error.
func failed(err error) (verdict, error) {
	var ge guardError
	if errors.As(err, &ge) {
		return verdict{}, ge.err
	}
	return verdict{errno: errnoOf(err)}, nil
}

// ownFD returns N for /proc/self/fd/N and /proc/thread-self/fd/N.
func ownFD(p string) (string, bool) {
	for _, pre := range []string{"/proc/self/fd/", "/proc/thread-self/fd/"} {
		if n, ok := strings.CutPrefix(p, pre); ok && n != "" && strings.Trim(n, "0123456789") == "" {
			return n, true
		}
	}
	return "", false
}

// verdict is the answer to one trapped call.
type verdict struct {
	errno unix.Errno
	cont  bool   // let the kernel run the call with the caller's credentials
	why   string // for the log, when refused
}

func refuse(why string, args ...any) verdict {
	return verdict{errno: unix.EPERM, why: fmt.Sprintf(why, args...)}
}

var proceed = verdict{cont: true}

func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EIO
}

// umount performs umount2(target, flags) for the caller unless it would
// take away a guarded mount.
func (g *guard) umount(c *caller, target string, flags int) verdict {
	if flags&unix.MNT_FORCE != 0 {
		return refuse("umount2 %s with MNT_FORCE needs CAP_SYS_ADMIN in the VM's user namespace", target)
	}
	if v, ok := g.permitted(c); !ok {
		return v
	}
	return g.inCaller(c, "umount2 "+target, func(proc int) (verdict, error) {
		o, t, err := c.at(proc, unix.AT_FDCWD, target, false, flags&unix.UMOUNT_NOFOLLOW == 0)
		if err != nil {
			return failed(err)
		}
		defer o.close()
		if flags&unix.MNT_DETACH != 0 || o.path == "/" {
			// A lazy umount ignores the reference o holds: act on
			// exactly what was opened. The root cannot be swapped.
			if r, refused := g.guarded(t, o.mnt, "umount2 "+o.path); refused {
				return r, nil
			}
			gone := []int{o.mnt}
			if flags&unix.MNT_DETACH != 0 {
				gone = t.Below(o.mnt)
			}
			if r, refused := g.propagates(c, t, gone, "umount2 "+o.path); refused {
				return r, nil
			}
			if err := unix.Fchdir(int(g.proc.Fd())); err != nil {
				return verdict{}, err
			}
			path := o.magic()
			if o.path == "/" {
				path = "/"
			}
			return verdict{errno: errnoOf0(unix.Unmount(path, flags&^unix.UMOUNT_NOFOLLOW))}, nil
		}
		// A plain umount fails (EBUSY) while a descriptor holds the
		// mount. Stand in its parent directory instead, reached without
		// following a symlink, and name it by its last component without
		// following one either: the lookup the umount makes is then the
		// statx the decision is made on. Only a mount stacked on top in
		// between can change what that name leads to, and then the umount
		// takes away the new top mount, not the decided one (umounts are
		// serialized by the guard, so none is taken away meanwhile).
		parent, base := splitPath(o.path)
		o.close()
		o.fd = -1
		pfd, err := unix.Openat2(unix.AT_FDCWD, parent, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_NO_SYMLINKS,
		})
		if err != nil {
			return verdict{errno: errnoOf(err)}, nil
		}
		defer unix.Close(pfd)
		if err := unix.Fchdir(pfd); err != nil {
			return verdict{}, err
		}
		var st unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, base, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &st); err != nil {
			return verdict{errno: errnoOf(err)}, nil
		}
		if t, err = c.table(); err != nil {
			return verdict{}, err
		}
		if r, refused := g.guarded(t, int(st.Mnt_id), "umount2 "+o.path); refused {
			return r, nil
		}
		if r, refused := g.propagates(c, t, []int{int(st.Mnt_id)}, "umount2 "+o.path); refused {
			return r, nil
		}
		return verdict{errno: errnoOf0(unix.Unmount(base, flags|unix.UMOUNT_NOFOLLOW))}, nil
	})
}

// covers returns a guarded mount that a new mount on dir would cover, in
// the container's own mount namespace. In a nested one (a service of
// systemd's, a nested runtime's) covering is allowed: systemd moves a
// fresh procfs or sysfs over /proc or /sys there (ProtectProc,
// PrivateNetwork), and what a covering mount can show is what any fresh
// procfs or sysfs mount shows (see the package comment); taking the
// copies away stays refused.
func (g *guard) covers(c *caller, t Table, dir string) (Mount, bool) {
	if g.nested(c) {
		return Mount{}, false
	}
	return g.prot.Covers(t, dir)
}

// nested reports whether the caller is in a mount namespace other than
// the container's own.
func (g *guard) nested(c *caller) bool {
	var st unix.Stat_t
	return unix.Fstat(int(c.mnt.Fd()), &st) == nil && (st.Dev != g.initNS.Dev || st.Ino != g.initNS.Ino)
}

// propagates refuses an umount in a nested namespace that would reach a
// guarded mount of the container's own by propagation: a copy made by
// unshare(CLONE_NEWNS) under the same user namespace is a peer of what it
// copies where that was shared (as systemd's mount --make-rshared / leaves
// it), and taking the copy away takes the original away too. gone are the
// mounts the umount takes away: the target, and with MNT_DETACH its tree.
func (g *guard) propagates(c *caller, t Table, gone []int, what string) (verdict, bool) {
	if !g.nested(c) {
		return verdict{}, false
	}
	own, err := tableAt(g.initDir)
	if err != nil {
		return verdict{errno: unix.EPERM, why: what + ": the container's own mounts: " + err.Error()}, true
	}
	if m, ok := t.Propagates(gone, g.prot.Spreads(own)); ok {
		return refuse("%s: the umount of %s would propagate to a guarded mount of the container's own namespace", what, m.Point), true
	}
	return verdict{}, false
}

// guarded refuses an operation on mount id if it is kept in place.
func (g *guard) guarded(t Table, id int, what string) (verdict, bool) {
	if why, kept := g.keptInPlace(t, id); kept {
		return refuse("%s: %s", what, why), true
	}
	return verdict{}, false
}

func splitPath(p string) (parent, base string) {
	i := strings.LastIndexByte(p, '/')
	parent, base = p[:i], p[i+1:]
	if parent == "" {
		parent = "/"
	}
	return parent, base
}

func errnoOf0(err error) unix.Errno {
	if err == nil {
		return 0
	}
	return errnoOf(err)
}

// inCaller runs decide on a thread in the caller's namespace
// (inNamespace), with the VM's /proc as proc, and returns its verdict;
// what names the call when that fails.
func (g *guard) inCaller(c *caller, what string, decide func(proc int) (verdict, error)) verdict {
	var v verdict
	err := c.inNamespace(g.opTimeout, func() error {
		var err error
		v, err = decide(int(g.proc.Fd()))
		return err
	})
	if err != nil {
		return verdict{errno: unix.EIO, why: what + ": " + err.Error()}
	}
	return v
}

// permitted repeats the kernel's permission check for an operation the
// guard performs itself.
func (g *guard) permitted(c *caller) (verdict, bool) {
	ok, err := c.mayMount()
	if err != nil {
		return verdict{errno: unix.EPERM, why: err.Error()}, false
	}
	if !ok {
		return verdict{errno: unix.EPERM}, false
	}
	return verdict{}, true
}

// mount answers mount(source, target, …, flags, …).
func (g *guard) mount(c *caller, source, target string, flags uint64) verdict {
	kind := classify(flags)
	switch kind {
	case kindRemountRO, kindPropagation:
		// Decided on the flags alone (see the package comment).
		return proceed
	case kindRemountBind, kindMove:
		if v, ok := g.permitted(c); !ok {
			return v
		}
	}
	return g.inCaller(c, "mount on "+target, func(proc int) (verdict, error) {
		dst, err := openPath(c, proc, target, true)
		if err != nil {
			if kind == kindRemountBind || kind == kindMove {
				return verdict{errno: errnoOf(err)}, nil
			}
			return proceed, nil // the kernel fails it with its own error
		}
		defer dst.close()
		t, err := c.table()
		if err != nil {
			return verdict{}, err
		}
		at, known := t.ByID[dst.mnt]
		switch kind {
		case kindRemountBind, kindRemountSB:
			if _, guarded := g.prot.Guards(t, at); guarded && known && at.ReadOnly() {
				return refuse("remounting %s read-write: a read-only initial mount", dst.path), nil
			}
			if kind == kindRemountSB {
				return proceed, nil
			}
			if err := unix.Fchdir(proc); err != nil {
				return verdict{}, err
			}
			return verdict{errno: errnoOf0(unix.Mount("", dst.magic(), "", uintptr(flags), ""))}, nil
		case kindMove:
			src, err := openPath(c, proc, source, true)
			if err != nil {
				return verdict{errno: errnoOf(err)}, nil
			}
			defer src.close()
			if m, ok := t.ByID[src.mnt]; ok {
				if why, guarded := g.prot.Guards(t, m); guarded {
					return refuse("moving %s: %s", src.path, why), nil
				}
			}
			if m, ok := g.covers(c, t, dst.path); ok {
				return refuse("moving a mount onto %s would cover %s", dst.path, m.Point), nil
			}
			if err := unix.Fchdir(proc); err != nil {
				return verdict{}, err
			}
			return verdict{errno: errnoOf0(unix.Mount(src.magic(), dst.magic(), "", unix.MS_MOVE, ""))}, nil
		case kindBind:
			if src, err := openPath(c, proc, source, true); err == nil {
				m, hides := g.prot.Hides(t, src.mnt, src.path)
				self := src.mnt == dst.mnt && src.ino == dst.ino
				src.close()
				if hides && flags&unix.MS_REC == 0 {
					return refuse("a non-recursive bind of %s would show what %s hides", source, m.Point), nil
				}
				if self {
					// A path bound onto itself shows what it showed
					// (systemd's read-only views: ProtectKernelTunables).
					return proceed, nil
				}
			}
		}
		if m, ok := g.covers(c, t, dst.path); ok {
			return refuse("mounting on %s would cover %s", dst.path, m.Point), nil
		}
		return proceed, nil
	})
}
