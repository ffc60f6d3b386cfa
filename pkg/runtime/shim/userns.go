package shim

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// The user namespaces that ID-mapped mounts take their mapping from.
// A user namespace exists only while a process (or an fd) holds it, and
// Go cannot make a process with clone(2) alone, so a child must be
// started in it and its /proc/PID/ns/user opened. The child never runs:
// it asks to be traced (PTRACE_TRACEME) and so stops at its exec, before
// the new program's first instruction, as runc 1.2 makes the namespaces
// of its own ID-mapped mounts (libcontainer/userns/usernsfd_linux.go).
// Under TCG, starting a Go program costs a good part of a second; a
// stopped exec costs a fork.

// holdArg is the child's command line: should the child ever run (the
// tracing thread gone before the child is killed, which detaches it), it
// runs hold with no stdin, which returns at once.
const holdArg = "__hardenvm_userns_hold"

// usernsFD returns an fd of a new user namespace mapping 0..size-1 to
// base..base+size-1.
//
// With withHostRoot, the namespace also maps its ID size to the VM's root:
// an ID-mapped mount through it lets the VM's root (overlayfs's mounter,
// making its work directory and copy-up files) write, its files landing
// on disk as ID size, outside the container's range.
func usernsFD(base, size uint32, withHostRoot bool) (int, error) {
	self, err := os.Executable()
	if err != nil {
		return -1, err
	}
	attr := &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(base), Size: int(size)}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(base), Size: int(size)}},
		Ptrace:      true,
	}
	if withHostRoot {
		root := syscall.SysProcIDMap{ContainerID: int(size), HostID: 0, Size: 1}
		attr.UidMappings = append(attr.UidMappings, root)
		attr.GidMappings = append(attr.GidMappings, root)
	}
	pid, err := syscall.ForkExec(self, []string{self, holdArg}, &syscall.ProcAttr{Sys: attr})
	if err != nil {
		return -1, fmt.Errorf("user namespace for ID-mapped mounts: %w", err)
	}
	fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/ns/user", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if rerr := reap(pid); rerr != nil && err == nil {
		unix.Close(fd)
		return -1, fmt.Errorf("user namespace holder: %w", rerr)
	}
	if err != nil {
		return -1, fmt.Errorf("user namespace for ID-mapped mounts: %w", err)
	}
	return fd, nil
}

// reap kills the stopped child pid and waits until it is gone: a wait
// may first report its trace stop, which is not its end.
func reap(pid int) error {
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		return fmt.Errorf("killing %d: %w", pid, err)
	}
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("waiting for %d: %w", pid, err)
		}
		if ws.Exited() || ws.Signaled() {
			return nil
		}
	}
}

// hold is the body of the holdArg child, should it ever run.
func hold() int {
	io.Copy(io.Discard, os.Stdin)
	return 0
}
