package shim

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hardenvm/hardenvm/pkg/runtime/mountguard"
)

// guardArg starts this binary as a container's mount guard
// (pkg/runtime/mountguard): the supervisor that answers the container's
// trapped mount calls and outlives the shim's invocation.
const guardArg = "__hardenvm-mountguard"

// guardFirstTimeout bounds how long a guard waits for runc's descriptor:
// `runc create` has failed or been killed if none came.
const guardFirstTimeout = 2 * time.Minute

// guardSocket is where a container's guard listens, in its state directory.
func guardSocket(dir string) string { return filepath.Join(dir, "mg.sock") }

// startGuard listens on sock and starts the guard: this binary again, in
// a session of its own, with stdio on /dev/null (it must hold none of the
// engine's pipes, or the engine would wait for it), inheriting the
// listener, so that the socket accepts before runc runs. Refusals go to
// runc's log.
func startGuard(sock string, c *cmdline) (*os.Process, error) {
	os.Remove(sock)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("mount guard socket: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	f, err := ln.File()
	ln.Close()
	if err != nil {
		return nil, fmt.Errorf("mount guard socket: %w", err)
	}
	defer f.Close()
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("mount guard: the shim's own path: %w", err)
	}
	cmd := exec.Command(self, guardArg, sock, c.global["log"], c.global["log-format"])
	cmd.ExtraFiles = []*os.File{f}
	cmd.Dir = "/" // hold no directory of the bundle's
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the mount guard: %w", err)
	}
	p := cmd.Process
	return p, nil
}

// guardMain is the guard process: argv is the socket, runc's log file and
// its format.
func guardMain(argv []string) int {
	if len(argv) != 3 {
		fmt.Fprintln(os.Stderr, "hardenvm: mount guard: want SOCKET LOG LOG-FORMAT")
		return 2
	}
	// The socket stays until delete removes the state directory: after
	// a restart it may already be the next guard's.
	c := &cmdline{global: map[string]string{"log": argv[1], "log-format": argv[2]}}
	l, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		logf(c, "error", "hardenvm: mount guard: %v", err)
		return 1
	}
	ul, ok := l.(*net.UnixListener)
	if !ok {
		logf(c, "error", "hardenvm: mount guard: fd 3 is not a unix socket")
		return 1
	}
	err = mountguard.Serve(mountguard.Config{
		Listener:     ul,
		FirstTimeout: guardFirstTimeout,
		Log:          func(format string, args ...any) { logf(c, "warning", "hardenvm: "+format, args...) },
	})
	if err != nil {
		logf(c, "error", "hardenvm: %v", err)
		return 1
	}
	return 0
}
