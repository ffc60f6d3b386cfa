package vm

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/internal/atomicfile"
)

// Virtiofsd is QEMU 7.2's virtiofsd as Debian bookworm ships it
// (qemu-system-common).
const Virtiofsd = "/usr/lib/qemu/virtiofsd"

// virtiofsdCaps are the capabilities virtiofsd needs inside its user
// namespace: its sandbox (new mount, pid and net namespaces, pivot_root,
// chroot) and the file operations it does for the guest as the guest's
// user.
var virtiofsdCaps = []uintptr{
	unix.CAP_SYS_ADMIN, unix.CAP_SYS_CHROOT, unix.CAP_SETPCAP,
	unix.CAP_SETUID, unix.CAP_SETGID, unix.CAP_CHOWN, unix.CAP_DAC_OVERRIDE,
	unix.CAP_DAC_READ_SEARCH, unix.CAP_FOWNER, unix.CAP_FSETID, unix.CAP_MKNOD, unix.CAP_SETFCAP,
}

// virtiofsdCmd is the command for share i of c, not started, serving the
// listening socket it inherits as descriptor 3 (--fd): given a socket
// path, QEMU 7.2's virtiofsd first locks a pid file under
// /var/run/virtiofsd, which only root may write, so run would need root
// for nothing else. virtiofsd
// runs in a user namespace of its own whose only IDs are the share's
// owner IDs, mapped to the user who runs the VM: the C virtiofsd takes the
// guest caller's uid and gid for every file it creates (setresuid), and
// has no ID mapping of its own, so the namespace is what makes a
// container's root write files the user owns — and keeps every other
// guest ID from creating files at all (EINVAL), rather than as some host
// ID. Its sandbox stays on (namespaces and pivot_root into the shared
// directory), set up with the namespace's capabilities.
func virtiofsdCmd(c *Config, i int) *exec.Cmd {
	s := c.Shares[i]
	args := []string{
		"--fd=3",
		"-o", "source=" + s.HostDir,
		"-o", "cache=auto",
		"-o", "sandbox=namespace",
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil && lim.Max > 0 && lim.Max < 1<<30 {
		// virtiofsd keeps a descriptor per inode the guest looks at and
		// raises its limit to a million by default, which needs a
		// privilege the namespace does not give; the hard limit is the
		// most it may have.
		args = append(args, fmt.Sprintf("--rlimit-nofile=%d", lim.Max))
	}
	cmd := exec.Command(c.virtiofsd(), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:     true,
		Pdeathsig:   syscall.SIGKILL,
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: int(s.OwnerUID), HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: int(s.OwnerGID), HostID: os.Getgid(), Size: 1}},
		AmbientCaps: virtiofsdCaps,
	}
	return cmd
}

func (c *Config) virtiofsd() string {
	if c.Virtiofsd != "" {
		return c.Virtiofsd
	}
	return Virtiofsd
}

// startShares writes the share list for the guest and starts one
// virtiofsd per share on a socket it listens on first, each logging to
// STATE/virtiofsd-N.log, and waits (bounded) until it waits for QEMU. On
// error the ones started are stopped.
func startShares(c *Config) ([]*daemon, error) {
	list := bootparams.Shares{Host: c.ShareHost}
	for i, s := range c.Shares {
		list.Shares = append(list.Shares, bootparams.Share{Tag: bootparams.ShareTag(i), Path: s.HostDir})
	}
	b, err := list.Marshal()
	if err != nil {
		return nil, fmt.Errorf("vm: %w", err)
	}
	if err := atomicfile.WriteFile(c.sharesFile(), b, 0o600); err != nil {
		return nil, fmt.Errorf("vm: %w", err)
	}
	if _, err := os.Stat(c.virtiofsd()); err != nil {
		return nil, fmt.Errorf("vm: sharing %s needs %s: install the Debian package qemu-system-common", c.Shares[0].HostDir, c.virtiofsd())
	}
	var cmds []*daemon
	for i, s := range c.Shares {
		if st, err := os.Stat(s.HostDir); err != nil || !st.IsDir() {
			stopAll(cmds)
			return nil, fmt.Errorf("vm: share %s: not a directory", s.HostDir)
		}
		sock := c.shareSocket(i)
		lf, err := listenUnix(sock)
		if err != nil {
			stopAll(cmds)
			return nil, fmt.Errorf("vm: share %s: %w", s.HostDir, err)
		}
		logPath := filepath.Join(c.StateDir, fmt.Sprintf("virtiofsd-%d.log", i))
		log, err := os.Create(logPath)
		if err != nil {
			lf.Close()
			stopAll(cmds)
			return nil, fmt.Errorf("vm: %w", err)
		}
		cmd := virtiofsdCmd(c, i)
		cmd.Stdout, cmd.Stderr = log, log
		cmd.ExtraFiles = []*os.File{lf}
		d, err := startDaemon(cmd)
		log.Close()
		lf.Close()
		if err != nil {
			stopAll(cmds)
			return nil, fmt.Errorf("vm: starting virtiofsd for %s: %w (it runs in a user namespace of its own: the kernel must allow them)", s.HostDir, err)
		}
		cmds = append(cmds, d)
		c.Log.Debug("started virtiofsd", "pid", cmd.Process.Pid, "share", s.HostDir, "socket", sock)
		if err := d.waitLog(logPath, virtiofsdListening, 10*time.Second); err != nil {
			stopAll(cmds)
			return nil, fmt.Errorf("vm: virtiofsd for %s: %v (see %s)", s.HostDir, err, logPath)
		}
	}
	return cmds, nil
}

// daemon is a started child and the channel closed when it has exited
// (its one Wait runs in a goroutine).
type daemon struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startDaemon(cmd *exec.Cmd) (*daemon, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &daemon{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(d.done) }()
	return d, nil
}

// stop kills the daemon's process group and waits (bounded) for it.
func (d *daemon) stop() {
	killGroup(d.cmd)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
	}
}

// virtiofsdListening is what virtiofsd logs once it waits for QEMU on
// its socket.
const virtiofsdListening = "Waiting for vhost-user socket connection"

// waitLog waits, at most timeout, for the daemon to write line to its log
// at logPath, and fails at once when the daemon exits first. A daemon
// still running but silent at the timeout passes: its socket listens
// already (the caller made it), so QEMU's connection waits in the backlog.
func (d *daemon) waitLog(logPath, line string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		if b, err := os.ReadFile(logPath); err == nil && bytes.Contains(b, []byte(line)) {
			return nil
		}
		select {
		case <-d.done:
			return errors.New("exited before it served its socket")
		case <-deadline:
			return nil
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// listenUnix makes a listening unix socket at path (replacing a stale
// one) and returns it as a file for a child to inherit; the path stays
// when the parent's copy is closed.
func listenUnix(path string) (*os.File, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	l.SetUnlinkOnClose(false)
	defer l.Close()
	return l.File()
}

// stopAll stops each daemon.
func stopAll(ds []*daemon) {
	for _, d := range ds {
		d.stop()
	}
}
