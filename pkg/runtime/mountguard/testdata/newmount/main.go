// Command newmount makes mount calls of the new mount API for the mount
// guard's tests (pkg/runtime/shim TestHostMountGuard), in a container
// whose busybox only knows mount(2). Each command is one operation; an
// error is printed as its errno name and exits 1. The operation runs on a
// thread that does not lead the process, as a multi-threaded caller's
// (dockerd's) do: the guard is told the thread's ID.
//
//	newmount tmpfs DIR              fsopen, fsconfig, fsmount, move_mount onto DIR
//	newmount move SRC DST           open_tree (no clone) of SRC, move_mount onto DST
//	newmount clone SRC DST [-r]     open_tree clone of SRC (-r: recursive), move_mount onto DST
//	newmount setattr PATH +ro|-ro [-r]  mount_setattr setting or clearing MOUNT_ATTR_RDONLY
//	newmount reconfigure PATH rw|ro  fspick, fsconfig ro/rw, FSCONFIG_CMD_RECONFIGURE
package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// The main goroutine keeps the main thread, so run's goroutine gets
// another.
func init() { runtime.LockOSThread() }

func main() {
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			done <- errors.New("running on the main thread")
			return
		}
		done <- run(os.Args[1:])
	}()
	if err := <-done; err != nil {
		var e unix.Errno
		if errors.As(err, &e) {
			fmt.Fprintf(os.Stderr, "newmount: %v (%s)\n", err, unix.ErrnoName(e))
		} else {
			fmt.Fprintf(os.Stderr, "newmount: %v\n", err)
		}
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: newmount tmpfs|move|clone|setattr|reconfigure ARGS")
	}
	rec := args[len(args)-1] == "-r"
	switch args[0] {
	case "tmpfs":
		fs, err := unix.Fsopen("tmpfs", unix.FSOPEN_CLOEXEC)
		if err != nil {
			return fmt.Errorf("fsopen: %w", err)
		}
		if err := unix.FsconfigSetString(fs, "source", "newmount"); err != nil {
			return fmt.Errorf("fsconfig source: %w", err)
		}
		if err := unix.FsconfigCreate(fs); err != nil {
			return fmt.Errorf("fsconfig create: %w", err)
		}
		m, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("fsmount: %w", err)
		}
		return attach(m, args[1])
	case "move", "clone":
		if len(args) < 3 {
			return errors.New("want SRC DST")
		}
		flags := uint(unix.OPEN_TREE_CLOEXEC)
		if args[0] == "clone" {
			flags |= unix.OPEN_TREE_CLONE
			if rec {
				flags |= unix.AT_RECURSIVE
			}
		}
		m, err := unix.OpenTree(unix.AT_FDCWD, args[1], flags)
		if err != nil {
			return fmt.Errorf("open_tree: %w", err)
		}
		return attach(m, args[2])
	case "setattr":
		if len(args) < 3 {
			return errors.New("want PATH +ro|-ro")
		}
		var attr unix.MountAttr
		if args[2] == "+ro" {
			attr.Attr_set = unix.MOUNT_ATTR_RDONLY
		} else {
			attr.Attr_clr = unix.MOUNT_ATTR_RDONLY
		}
		flags := uint(0)
		if rec {
			flags |= unix.AT_RECURSIVE
		}
		if err := unix.MountSetattr(unix.AT_FDCWD, args[1], flags, &attr); err != nil {
			return fmt.Errorf("mount_setattr: %w", err)
		}
		return nil
	case "reconfigure":
		if len(args) < 3 {
			return errors.New("want PATH rw|ro")
		}
		fs, err := unix.Fspick(unix.AT_FDCWD, args[1], unix.FSPICK_CLOEXEC)
		if err != nil {
			return fmt.Errorf("fspick: %w", err)
		}
		if err := unix.FsconfigSetFlag(fs, args[2]); err != nil {
			return fmt.Errorf("fsconfig %s: %w", args[2], err)
		}
		if err := unix.FsconfigReconfigure(fs); err != nil {
			return fmt.Errorf("fsconfig reconfigure: %w", err)
		}
		return nil
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func attach(m int, dst string) error {
	if err := unix.MoveMount(m, "", unix.AT_FDCWD, dst, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("move_mount: %w", err)
	}
	return nil
}
