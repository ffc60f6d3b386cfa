package mountguard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// caller is a trapped process: descriptors on its namespaces, root,
// working directory and memory, opened from the VM's /proc before anything
// is decided. Once they are open, a still-valid notification
// (SECCOMP_IOCTL_NOTIF_ID_VALID) proves they belong to the caller and not
// to a process that took its PID after it died.
type caller struct {
	pid   int
	pidfd int         // for pidfd_getfd, opened on first use (getfd)
	valid func() bool // whether its notification is still pending
	dir   *os.File    // /proc/PID
	mnt   *os.File    // ns/mnt
	user  *os.File    // ns/user
	root  *os.File    // root, O_PATH
	cwd   *os.File    // cwd, O_PATH
	mem   *os.File    // mem
}

func openCaller(proc *os.File, pid int) (*caller, error) {
	c := &caller{pid: pid, pidfd: -1}
	open := func(name string, flags int) (*os.File, error) {
		fd, err := unix.Openat(int(proc.Fd()), strconv.Itoa(pid)+"/"+name, flags|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("opening /proc/%d/%s: %w", pid, name, err)
		}
		return os.NewFile(uintptr(fd), fmt.Sprintf("/proc/%d/%s", pid, name)), nil
	}
	var err error
	for _, f := range []struct {
		dst   **os.File
		name  string
		flags int
	}{
		{&c.dir, "", unix.O_PATH | unix.O_DIRECTORY},
		{&c.mnt, "ns/mnt", unix.O_RDONLY},
		{&c.user, "ns/user", unix.O_RDONLY},
		{&c.root, "root", unix.O_PATH | unix.O_DIRECTORY},
		{&c.cwd, "cwd", unix.O_PATH | unix.O_DIRECTORY},
		{&c.mem, "mem", unix.O_RDONLY},
	} {
		if *f.dst, err = open(f.name, f.flags); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

// pidfdThread (Linux 6.9) opens a pidfd of a thread: a notification names
// the calling thread, and a multi-threaded caller (dockerd, containerd)
// makes its mount calls from threads that do not lead their group.
const pidfdThread = unix.O_EXCL

// getfd duplicates the caller's descriptor n into the supervisor
// (pidfd_getfd(2)): the same open file, so the same mount and file it
// names, whatever the caller does with n afterwards.
func (c *caller) getfd(n int32) (int, error) {
	if c.pidfd < 0 {
		var err error
		if c.pidfd, err = unix.PidfdOpen(c.pid, pidfdThread); err == unix.EINVAL {
			c.pidfd, err = unix.PidfdOpen(c.pid, 0) // before 6.9: a group leader only
		}
		if err != nil {
			c.pidfd = -1
			return -1, fmt.Errorf("pidfd of %d: %w", c.pid, err)
		}
		if c.valid != nil && !c.valid() {
			// The PID may name another process now.
			return -1, fmt.Errorf("pidfd of %d: the caller is gone", c.pid)
		}
	}
	fd, err := unix.PidfdGetfd(c.pidfd, int(n), 0)
	if err != nil {
		return -1, fmt.Errorf("descriptor %d of %d: %w", n, c.pid, err)
	}
	return fd, nil
}

func (c *caller) close() {
	if c.pidfd >= 0 {
		unix.Close(c.pidfd)
	}
	for _, f := range []*os.File{c.dir, c.mnt, c.user, c.root, c.cwd, c.mem} {
		if f != nil {
			f.Close()
		}
	}
}

func (c *caller) readFile(name string) ([]byte, error) { return readAt(c.dir, name) }

// readAt reads the file name in dir, a process's /proc directory: opened
// by descriptor, it is that process's even once its PID is reused.
func readAt(dir *os.File, name string) ([]byte, error) {
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s/%s: %w", strings.TrimSuffix(dir.Name(), "/"), name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 4<<20))
}

// tableAt reads the mounts of the process whose /proc directory is dir.
func tableAt(dir *os.File) (Table, error) {
	b, err := readAt(dir, "mountinfo")
	if err != nil {
		return Table{}, err
	}
	return ParseMountinfo(bytes.NewReader(b))
}

// table reads the caller's mounts.
func (c *caller) table() (Table, error) { return tableAt(c.dir) }

const capSysAdmin = 21

// mayMount repeats the kernel's permission check for the operations the
// guard performs itself (may_mount): CAP_SYS_ADMIN in the user namespace
// that owns the caller's mount namespace. A caller in a child user
// namespace of the owner has no such capability, and a mount namespace
// owned by a child of the caller's namespace is not one a caller enters
// without joining that namespace too, so the owner must be the caller's
// own user namespace.
func (c *caller) mayMount() (bool, error) {
	status, err := c.readFile("status")
	if err != nil {
		return false, err
	}
	var eff uint64
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			if eff, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64); err != nil {
				return false, fmt.Errorf("/proc/%d/status CapEff %q: %w", c.pid, v, err)
			}
		}
	}
	if eff&(1<<capSysAdmin) == 0 {
		return false, nil
	}
	owner, err := unix.IoctlRetInt(int(c.mnt.Fd()), unix.NS_GET_USERNS)
	if err != nil {
		return false, fmt.Errorf("owner of the caller's mount namespace: %w", err)
	}
	defer unix.Close(owner)
	var a, b unix.Stat_t
	if err := unix.Fstat(owner, &a); err != nil {
		return false, err
	}
	if err := unix.Fstat(int(c.user.Fd()), &b); err != nil {
		return false, err
	}
	return a.Dev == b.Dev && a.Ino == b.Ino, nil
}

// errTimeout is returned when an operation in the caller's namespace did
// not finish in time.
var errTimeout = errors.New("operation in the caller's mount namespace timed out")

// inNamespace runs fn on an OS thread of its own that has entered the
// caller's mount namespace, root and working directory, so that fn
// resolves paths as the caller would. The thread unshares its file-system
// context first (setns(CLONE_NEWNS) requires it) and is never handed back
// to the Go scheduler: the goroutine ends with the thread locked, and the
// runtime then ends the thread. The wait is bounded by timeout; an
// operation still running then is left to finish on its thread.
func (c *caller) inNamespace(timeout time.Duration, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		done <- func() error {
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("unshare(CLONE_FS): %w", err)
			}
			if err := unix.Setns(int(c.mnt.Fd()), unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("entering the caller's mount namespace: %w", err)
			}
			if err := unix.Fchdir(int(c.root.Fd())); err != nil {
				return fmt.Errorf("the caller's root: %w", err)
			}
			if err := unix.Chroot("."); err != nil {
				return fmt.Errorf("chroot to the caller's root: %w", err)
			}
			if err := unix.Fchdir(int(c.cwd.Fd())); err != nil {
				return fmt.Errorf("the caller's working directory: %w", err)
			}
			err := fn()
			// The thread ends after the reply, which the caller may
			// follow with an umount: stand nowhere in its mounts but
			// the root meanwhile, or that umount fails (EBUSY).
			unix.Chdir("/")
			return err
		}()
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		return errTimeout
	}
}
