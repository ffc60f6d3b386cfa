package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Machine is a running VM.
type Machine struct {
	cfg     Config
	Accel   Accel // the accelerator actually used
	qemu    *exec.Cmd
	swtpm   *exec.Cmd
	shares  []*daemon // one virtiofsd per share
	console *Console
	serial  *os.File
	stderr  *tailBuffer

	done    chan struct{} // closed when QEMU has exited
	waitErr error
	stop    sync.Once
}

// Start boots the VM described by c. Output of the serial console goes to
// the console (see Console), the serial log, and tee when not nil. The VM
// is stopped when ctx ends.
func Start(ctx context.Context, c Config, tee io.Writer) (*Machine, error) {
	if err := c.defaults(); err != nil {
		return nil, err
	}
	if _, err := exec.LookPath(c.QEMU); err != nil {
		pkg := "qemu-system-x86"
		if c.Arch == "arm64" {
			pkg = "qemu-system-arm"
		}
		return nil, fmt.Errorf("vm: %s not found: install the Debian package %s", c.QEMU, pkg)
	}
	for _, f := range []struct{ what, path string }{
		{"kernel", c.Kernel}, {"initrd", c.Initrd}, {"firmware", c.FirmwareCode}, {"firmware variables", c.FirmwareVars},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return nil, fmt.Errorf("vm: %s %s: %w", f.what, f.path, errors.Unwrap(err))
		}
	}
	for _, d := range c.Disks {
		if _, err := os.Stat(d.Path); err != nil {
			return nil, fmt.Errorf("vm: disk %s: %w", d.Path, errors.Unwrap(err))
		}
	}
	if err := os.MkdirAll(c.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("vm: state directory: %w", err)
	}
	accel, err := chooseAccel(ctx, &c)
	if err != nil {
		return nil, err
	}
	m := &Machine{cfg: c, Accel: accel, done: make(chan struct{}), stderr: &tailBuffer{max: 4096}}
	ok := false
	defer func() {
		if !ok {
			m.Stop()
		}
	}()
	if c.TPM {
		if m.swtpm, err = startTPM(ctx, &m.cfg); err != nil {
			return nil, err
		}
	}
	if len(c.Shares) > 0 {
		if m.shares, err = startShares(&m.cfg); err != nil {
			return nil, err
		}
	}
	if m.serial, err = os.Create(c.SerialLog); err != nil {
		return nil, fmt.Errorf("vm: serial log: %w", err)
	}
	args := qemuArgs(&m.cfg, accel)
	m.qemu = exec.Command(c.QEMU, args...)
	m.qemu.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := m.qemu.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := m.qemu.StdoutPipe()
	if err != nil {
		return nil, err
	}
	m.qemu.Stderr = m.stderr
	m.console = newConsole(stdin, c.SerialLog)
	c.Log.Info("starting QEMU", "accel", accel, "args", strings.Join(args, " "))
	if err := m.qemu.Start(); err != nil {
		return nil, fmt.Errorf("vm: starting %s: %w", c.QEMU, err)
	}
	var w io.Writer = m.serial
	if tee != nil {
		w = io.MultiWriter(m.serial, tee)
	}
	pumped := make(chan struct{})
	go func() { m.console.pump(stdout, w); close(pumped) }()
	go func() {
		<-pumped // all output read before Wait closes the pipe
		err := m.qemu.Wait()
		if err != nil {
			err = fmt.Errorf("vm: QEMU exited: %v: %s", err, m.stderr.lastLine())
		}
		m.waitErr = err
		m.serial.Close()
		close(m.done)
		m.Stop() // swtpm too
	}()
	go func() {
		select {
		case <-ctx.Done():
			c.Log.Info("stopping VM", "reason", context.Cause(ctx))
			m.Stop()
		case <-m.done:
		}
	}()
	ok = true
	return m, nil
}

// Console is the serial console.
func (m *Machine) Console() *Console { return m.console }

// Config returns the configuration the machine runs with (defaults filled).
func (m *Machine) Config() Config { return m.cfg }

// Done is closed when QEMU has exited.
func (m *Machine) Done() <-chan struct{} { return m.done }

// Wait blocks until QEMU exits and returns why it did. A guest that powers
// off gives nil.
func (m *Machine) Wait() error {
	<-m.done
	return m.waitErr
}

// WaitTimeout is Wait bounded by d.
func (m *Machine) WaitTimeout(d time.Duration) error {
	select {
	case <-m.done:
		return m.waitErr
	case <-time.After(d):
		return fmt.Errorf("vm: QEMU still running after %v", d)
	}
}

// Stop kills QEMU, swtpm and the virtiofsds (their whole process groups). It is safe to
// call more than once and from several goroutines.
func (m *Machine) Stop() {
	m.stop.Do(func() {
		if m.qemu != nil && m.qemu.Process != nil {
			killGroup(m.qemu)
		}
		if m.swtpm != nil {
			killGroup(m.swtpm)
			m.swtpm.Wait()
		}
		stopAll(m.shares)
	})
	if m.qemu != nil && m.qemu.Process != nil {
		<-m.done
	}
}

// killGroup sends SIGKILL to the process group the command leads. The
// guest's disks are raw files: nothing is lost that a guest crash would
// not lose too.
func killGroup(cmd *exec.Cmd) {
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

// tailBuffer keeps the last bytes QEMU wrote to stderr, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return "no error output"
	}
	return lastLine(s)
}
