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
// finds the mount it is on. A path to one of the caller's own descriptors
// (/proc/self/fd/N, as runc and systemd name mount sources and targets)
// is opened through the caller's entry in the VM's /proc: the thread
// standing in for it is not a process of the container's /proc.
func openPath(c *caller, proc int, p string, follow bool) (opened, error) {
	flags := unix.O_PATH | unix.O_CLOEXEC
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	var fd int
	var err error
	if n, ok := ownFD(p); ok {
		fd, err = unix.Openat(int(c.dir.Fd()), "fd/"+n, unix.O_PATH|unix.O_CLOEXEC, 0)
	} else {
		fd, err = unix.Open(p, flags, 0)
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
	var v verdict
	err := c.inNamespace(g.opTimeout, func() error {
		o, err := openPath(c, int(g.proc.Fd()), target, flags&unix.UMOUNT_NOFOLLOW == 0)
		if err != nil {
			v = verdict{errno: errnoOf(err)}
			return nil
		}
		defer o.close()
		t, err := c.table()
		if err != nil {
			return err
		}
		if flags&unix.MNT_DETACH != 0 || o.path == "/" {
			// A lazy umount ignores the reference o holds: act on
			// exactly what was opened. The root cannot be swapped.
			if r, refused := g.guarded(t, o.mnt, "umount2 "+o.path); refused {
				v = r
				return nil
			}
			if err := unix.Fchdir(int(g.proc.Fd())); err != nil {
				return err
			}
			path := o.magic()
			if o.path == "/" {
				path = "/"
			}
			v = verdict{errno: errnoOf0(unix.Unmount(path, flags&^unix.UMOUNT_NOFOLLOW))}
			return nil
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
			v = verdict{errno: errnoOf(err)}
			return nil
		}
		defer unix.Close(pfd)
		if err := unix.Fchdir(pfd); err != nil {
			return err
		}
		var st unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, base, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &st); err != nil {
			v = verdict{errno: errnoOf(err)}
			return nil
		}
		if t, err = c.table(); err != nil {
			return err
		}
		if r, refused := g.guarded(t, int(st.Mnt_id), "umount2 "+o.path); refused {
			v = r
			return nil
		}
		v = verdict{errno: errnoOf0(unix.Unmount(base, flags|unix.UMOUNT_NOFOLLOW))}
		return nil
	})
	if err != nil {
		return verdict{errno: unix.EIO, why: "umount2 " + target + ": " + err.Error()}
	}
	return v
}

// covers returns a guarded mount that a new mount on dir would cover, in
// the container's own mount namespace. In a nested one (a service of
// systemd's, a nested runtime's) covering is allowed: systemd moves a
// fresh procfs or sysfs over /proc or /sys there (ProtectProc,
// PrivateNetwork), and what a covering mount can show is what any fresh
// procfs or sysfs mount shows (see the package comment); taking the
// copies away stays refused.
func (g *guard) covers(c *caller, t Table, dir string) (Mount, bool) {
	var st unix.Stat_t
	if err := unix.Fstat(int(c.mnt.Fd()), &st); err == nil && (st.Dev != g.initNS.Dev || st.Ino != g.initNS.Ino) {
		return Mount{}, false
	}
	return g.prot.Covers(t, dir)
}

// guarded refuses an operation on mount id if it is kept in place.
func (g *guard) guarded(t Table, id int, what string) (verdict, bool) {
	if m, ok := t.ByID[id]; ok {
		if why, guarded := g.prot.Guards(t, m); guarded {
			return refuse("%s: %s", what, why), true
		}
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
	var v verdict
	err := c.inNamespace(g.opTimeout, func() error {
		proc := int(g.proc.Fd())
		dst, err := openPath(c, proc, target, true)
		if err != nil {
			if kind == kindRemountBind || kind == kindMove {
				v = verdict{errno: errnoOf(err)}
			} else {
				v = proceed // the kernel fails it with its own error
			}
			return nil
		}
		defer dst.close()
		t, err := c.table()
		if err != nil {
			return err
		}
		at, known := t.ByID[dst.mnt]
		switch kind {
		case kindRemountBind, kindRemountSB:
			if _, guarded := g.prot.Guards(t, at); guarded && known && at.ReadOnly() {
				v = refuse("remounting %s read-write: a read-only initial mount", dst.path)
				return nil
			}
			if kind == kindRemountSB {
				v = proceed
				return nil
			}
			if err := unix.Fchdir(proc); err != nil {
				return err
			}
			v = verdict{errno: errnoOf0(unix.Mount("", dst.magic(), "", uintptr(flags), ""))}
			return nil
		case kindMove:
			src, err := openPath(c, proc, source, true)
			if err != nil {
				v = verdict{errno: errnoOf(err)}
				return nil
			}
			defer src.close()
			if m, ok := t.ByID[src.mnt]; ok {
				if why, guarded := g.prot.Guards(t, m); guarded {
					v = refuse("moving %s: %s", src.path, why)
					return nil
				}
			}
			if m, ok := g.covers(c, t, dst.path); ok {
				v = refuse("moving a mount onto %s would cover %s", dst.path, m.Point)
				return nil
			}
			if err := unix.Fchdir(proc); err != nil {
				return err
			}
			v = verdict{errno: errnoOf0(unix.Mount(src.magic(), dst.magic(), "", unix.MS_MOVE, ""))}
			return nil
		case kindBind:
			if src, err := openPath(c, proc, source, true); err == nil {
				m, hides := g.prot.Hides(t, src.mnt, src.path)
				self := src.mnt == dst.mnt && src.ino == dst.ino
				src.close()
				if hides && flags&unix.MS_REC == 0 {
					v = refuse("a non-recursive bind of %s would show what %s hides", source, m.Point)
					return nil
				}
				if self {
					// A path bound onto itself shows what it showed
					// (systemd's read-only views: ProtectKernelTunables).
					v = proceed
					return nil
				}
			}
		}
		if m, ok := g.covers(c, t, dst.path); ok {
			v = refuse("mounting on %s would cover %s", dst.path, m.Point)
			return nil
		}
		v = proceed
		return nil
	})
	if err != nil {
		return verdict{errno: unix.EIO, why: "mount on " + target + ": " + err.Error()}
	}
	return v
}
