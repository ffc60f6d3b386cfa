package mountguard

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Config is a supervisor's: the socket runc connects to, and its bounds.
type Config struct {
	Listener *net.UnixListener
	// FirstTimeout bounds the wait for the container's first descriptor
	// (runc create has failed if none came).
	FirstTimeout time.Duration
	// OpTimeout bounds one operation performed in a caller's namespace.
	OpTimeout time.Duration
	// Log receives refusals and errors; nil discards them.
	Log func(format string, args ...any)
}

type guard struct {
	proc      *os.File // the VM's /proc
	prot      Protected
	initNS    unix.Stat_t // the container's own mount namespace
	initDir   *os.File    // /proc/PID of the container's init: its mountinfo is the own namespace's
	opTimeout time.Duration
	log       func(format string, args ...any)
	mu        sync.Mutex // one decision at a time: decided mounts do not move under another
}

// x32 callers use the x86-64 numbers with this bit set.
const x32Bit = 0x40000000

// Serve supervises one container: it records the initial mounts from the
// first descriptor runc sends, answers the trapped calls of every process
// runc starts in the container (the init and each exec), and returns once
// the container's init has exited.
func Serve(cfg Config) error {
	if cfg.OpTimeout == 0 {
		cfg.OpTimeout = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = func(string, ...any) {}
	}
	proc, err := os.OpenFile("/proc", unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("mount guard: %w", err)
	}
	defer proc.Close()
	ln := cfg.Listener
	if err := ln.SetDeadline(time.Now().Add(cfg.FirstTimeout)); err != nil {
		return err
	}
	st, fd, err := accept(ln)
	if err != nil {
		return fmt.Errorf("mount guard: waiting for the container's seccomp descriptor: %w", err)
	}
	init := st.State.Pid
	pidfd, err := unix.PidfdOpen(init, 0)
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("mount guard: the container's init %d: %w", init, err)
	}
	defer unix.Close(pidfd)
	f, err := os.Open(fmt.Sprintf("/proc/%d/mountinfo", init))
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("mount guard: %w", err)
	}
	t, err := ParseMountinfo(f)
	f.Close()
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("mount guard: the container's initial mounts: %w", err)
	}
	g := &guard{proc: proc, prot: Snapshot(t), opTimeout: cfg.OpTimeout, log: cfg.Log}
	if g.initDir, err = os.OpenFile(fmt.Sprintf("/proc/%d", init), unix.O_PATH|unix.O_DIRECTORY, 0); err != nil {
		unix.Close(fd)
		return fmt.Errorf("mount guard: the container's init: %w", err)
	}
	defer g.initDir.Close()
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/mnt", init), &g.initNS); err != nil {
		unix.Close(fd)
		return fmt.Errorf("mount guard: the container's mount namespace: %w", err)
	}
	cfg.Log("mount guard: container %s: %d initial mounts, %d places on procfs and sysfs kept", st.State.ID, len(g.prot.IDs), len(g.prot.Places))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	serveFD := func(fd int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer unix.Close(fd)
			g.serveFD(fd, stop)
		}()
	}
	serveFD(fd)
	for {
		if exited(pidfd) {
			break
		}
		ln.SetDeadline(time.Now().Add(500 * time.Millisecond))
		st, fd, err := accept(ln)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			continue
		}
		if err != nil {
			cfg.Log("mount guard: %v", err)
			continue
		}
		if st.State.Pid != init {
			cfg.Log("mount guard: a descriptor for container %s (init %d), not this one (init %d): dropped", st.State.ID, st.State.Pid, init)
			unix.Close(fd)
			continue
		}
		serveFD(fd)
	}
	close(stop)
	wg.Wait()
	return nil
}

// exited reports whether the process behind pidfd has exited.
func exited(pidfd int) bool {
	p := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(p, 0)
	return err == nil && n > 0
}

// accept takes one connection from runc: the container process state
// (runtime-spec ContainerProcessState) with the seccomp notify descriptor
// attached (SCM_RIGHTS).
func accept(ln *net.UnixListener) (*specs.ContainerProcessState, int, error) {
	conn, err := ln.AcceptUnix()
	if err != nil {
		return nil, -1, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 0, 64*1024)
	oob := make([]byte, unix.CmsgSpace(4*4))
	var fds []int
	for {
		chunk := make([]byte, 64*1024)
		n, oobn, _, _, err := conn.ReadMsgUnix(chunk, oob)
		if oobn > 0 {
			msgs, perr := unix.ParseSocketControlMessage(oob[:oobn])
			if perr == nil {
				for _, m := range msgs {
					if got, err := unix.ParseUnixRights(&m); err == nil {
						fds = append(fds, got...)
					}
				}
			}
		}
		buf = append(buf, chunk[:n]...)
		if err != nil || n == 0 || len(buf) > 1<<20 {
			break
		}
		var probe specs.ContainerProcessState
		if json.Unmarshal(buf, &probe) == nil {
			break
		}
	}
	closeAll := func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}
	var st specs.ContainerProcessState
	if err := json.Unmarshal(buf, &st); err != nil {
		closeAll()
		return nil, -1, fmt.Errorf("the runtime's container process state: %w", err)
	}
	i := slices.Index(st.Fds, specs.SeccompFdName)
	if i < 0 || i >= len(fds) {
		closeAll()
		return nil, -1, fmt.Errorf("no %s among the %d descriptors sent (%v)", specs.SeccompFdName, len(fds), st.Fds)
	}
	fd := fds[i]
	fds = slices.Delete(fds, i, i+1)
	closeAll()
	unix.CloseOnExec(fd)
	return &st, fd, nil
}

// serveFD answers notifications on one notify descriptor until no process
// uses its filter any more (POLLHUP) or stop is closed.
func (g *guard) serveFD(fd int, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(p, 500)
		if err == unix.EINTR || n == 0 {
			continue
		}
		if err != nil {
			g.log("mount guard: poll: %v", err)
			return
		}
		if p[0].Revents&unix.POLLIN == 0 {
			return // POLLHUP: every process of this filter is gone
		}
		req, err := recvNotif(fd)
		if err != nil {
			if err == unix.ENOENT || err == unix.EINTR {
				continue // the caller went away first
			}
			g.log("mount guard: receiving a notification: %v", err)
			return
		}
		v := g.answer(fd, req)
		if v.why != "" {
			g.log("mount guard: pid %d: refused (%s): %s", req.Pid, v.errno, v.why)
		}
		if err := reply(fd, req.ID, v.errno, v.cont); err != nil && err != unix.ENOENT {
			g.log("mount guard: replying: %v", err)
		}
	}
}

// answer decides one notification.
func (g *guard) answer(fd int, req *notif) verdict {
	if req.Data.Arch != unix.AUDIT_ARCH_X86_64 {
		return refuse("mount calls of architecture %#x are not served", req.Data.Arch)
	}
	nr := int(req.Data.Nr) &^ x32Bit
	a := req.Data.Args
	switch {
	case nr == unix.SYS_MOUNT:
		if k := classify(a[3]); k == kindRemountRO || k == kindPropagation {
			return proceed // decided on the flags alone (see the package comment)
		}
	case nr == unix.SYS_OPEN_TREE:
		if a[2]&unix.OPEN_TREE_CLONE == 0 || a[2]&unix.AT_RECURSIVE != 0 {
			return proceed // decided on the flags alone (openTree)
		}
	case nr != unix.SYS_UMOUNT2 && nr != unix.SYS_MOVE_MOUNT && nr != unix.SYS_MOUNT_SETATTR:
		return verdict{errno: unix.ENOSYS, why: fmt.Sprintf("syscall %d is not served", nr)}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	c, err := openCaller(g.proc, int(req.Pid))
	if err != nil {
		return verdict{errno: unix.EPERM, why: err.Error()}
	}
	defer c.close()
	c.valid = func() bool { return idValid(fd, req.ID) }
	if !c.valid() {
		return verdict{errno: unix.EPERM} // the reply will not reach anyone
	}
	// The arguments, read from the caller's memory while it waits.
	str := func(i int) (string, bool) {
		s, err := readString(c.mem, a[i], unix.PathMax)
		return s, err == nil
	}
	var call func() verdict
	switch nr {
	case unix.SYS_UMOUNT2:
		target, ok := str(0)
		if !ok {
			return verdict{errno: unix.EFAULT}
		}
		call = func() verdict { return g.umount(c, target, int(a[1])) }
	case unix.SYS_MOUNT:
		source, ok1 := str(0)
		target, ok2 := str(1)
		if !ok1 || !ok2 {
			return verdict{errno: unix.EFAULT}
		}
		call = func() verdict { return g.mount(c, source, target, a[3]) }
	case unix.SYS_OPEN_TREE:
		p, ok := str(1)
		if !ok {
			return verdict{errno: unix.EFAULT}
		}
		call = func() verdict { return g.openTree(c, int32(a[0]), p, a[2]) }
	case unix.SYS_MOVE_MOUNT:
		from, ok1 := str(1)
		to, ok2 := str(3)
		if !ok1 || !ok2 {
			return verdict{errno: unix.EFAULT}
		}
		call = func() verdict { return g.moveMount(c, int32(a[0]), from, int32(a[2]), to, a[4]) }
	case unix.SYS_MOUNT_SETATTR:
		p, ok := str(1)
		if !ok {
			return verdict{errno: unix.EFAULT}
		}
		attr, errno := readMountAttr(c.mem, a[3], a[4])
		if errno != 0 {
			return verdict{errno: errno}
		}
		call = func() verdict { return g.setattr(c, int32(a[0]), p, a[2], attr) }
	}
	if !idValid(fd, req.ID) {
		return verdict{errno: unix.EPERM}
	}
	return call()
}
