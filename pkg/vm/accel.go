package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hardenvm/hardenvm/pkg/arch"
)

// Accel selects QEMU's accelerator.
type Accel string

const (
	AccelAuto Accel = "auto" // KVM if a probe guest really runs under it, else TCG
	AccelKVM  Accel = "kvm"
	AccelTCG  Accel = "tcg"
)

// ParseAccel checks a --accel value.
func ParseAccel(s string) (Accel, error) {
	switch a := Accel(s); a {
	case AccelAuto, AccelKVM, AccelTCG:
		return a, nil
	}
	return "", fmt.Errorf("accelerator %q: want auto, kvm or tcg", s)
}

// ProbeTimeout bounds the KVM probe. The probe guest (QEMU's own BIOS
// looking for a boot device) finishes in about 0.1 s under TCG and faster
// under a working KVM. On machines where /dev/kvm exists but KVM is broken,
// it hangs, or crawls to the end in 5 s or more while a real kernel never
// boots: a KVM slower than software emulation is not usable either.
var ProbeTimeout = 3 * time.Second

// ErrKVMUnusable is returned when KVM was asked for and does not work.
var ErrKVMUnusable = errors.New("KVM does not run guests on this machine")

// probeDone matches SeaBIOS's debug output once it has initialised the
// machine and looked for something to boot.
var probeDone = [][]byte{[]byte("No bootable device"), []byte("Booting from")}

// kvmDevice is the device ProbeKVM needs to open before it tries a guest;
// tests point it at a device every machine has.
var kvmDevice = "/dev/kvm"

var (
	probeMu    sync.Mutex
	probeCache = map[string]error{}
)

// ProbeKVM reports whether KVM really runs a guest: it boots QEMU's BIOS
// under KVM with a debug console and waits, at most ProbeTimeout, for the
// BIOS to reach its boot device search. The answer is remembered for the
// process and, keyed by the host's boot id, in the user cache directory,
// so only the first VM after a host boot pays for it.
func ProbeKVM(ctx context.Context, qemu string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if f, err := os.OpenFile(kvmDevice, os.O_RDWR, 0); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrKVMUnusable, kvmDevice, err)
	} else {
		f.Close()
	}
	key := "probe-v2 " + bootID() + " " + qemu
	probeMu.Lock()
	defer probeMu.Unlock()
	if err, ok := probeCache[key]; ok {
		return err
	}
	cache := probeCacheFile()
	if b, err := os.ReadFile(cache); err == nil {
		if k, v, ok := strings.Cut(strings.TrimSpace(string(b)), "\t"); ok && k == key {
			err := error(nil)
			if v != "ok" {
				err = fmt.Errorf("%w: %s (remembered from an earlier probe in %s)", ErrKVMUnusable, v, cache)
			}
			probeCache[key] = err
			return err
		}
	}
	start := time.Now()
	err := Probe(ctx, qemu)
	if ctx.Err() != nil {
		return ctx.Err() // interrupted: decided nothing
	}
	log.Info("KVM probe", "usable", err == nil, "took", time.Since(start).Round(time.Millisecond), "error", err)
	probeCache[key] = err
	verdict := "ok"
	if err != nil {
		verdict = strings.TrimPrefix(err.Error(), ErrKVMUnusable.Error()+": ")
	}
	if os.MkdirAll(filepath.Dir(cache), 0o755) == nil {
		os.WriteFile(cache, []byte(key+"\t"+verdict+"\n"), 0o644)
	}
	return err
}

// Probe runs the KVM probe once, remembering nothing; see ProbeKVM.
func Probe(ctx context.Context, qemu string) error {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	cmd := exec.Command(qemu, "-machine", "q35,accel=kvm", "-nodefaults", "-no-user-config",
		"-display", "none", "-m", "64", "-chardev", "stdio,id=dbg,signal=off",
		"-device", "isa-debugcon,iobase=0x402,chardev=dbg")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out := &probeBuffer{done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w: starting %s: %v", ErrKVMUnusable, qemu, err)
	}
	// exited is closed, not sent on, once Wait returns: both the select
	// below and the deferred cleanup wait for it, and a guest that exits at
	// once (no KVM module) must not leave the cleanup waiting forever.
	// WaitDelay bounds Wait if something else still holds the output pipe.
	cmd.WaitDelay = time.Second
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}()
	select {
	case <-out.done:
		return nil
	case <-exited:
		return fmt.Errorf("%w: probe guest exited (%v): %s", ErrKVMUnusable, waitErr, lastLine(out.String()))
	case <-ctx.Done():
		return fmt.Errorf("%w: probe guest did not finish its BIOS within %v", ErrKVMUnusable, ProbeTimeout)
	}
}

type probeBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	done chan struct{}
	seen bool
}

func (p *probeBuffer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.b.Write(b)
	if !p.seen {
		for _, m := range probeDone {
			if bytes.Contains(p.b.Bytes(), m) {
				p.seen = true
				close(p.done)
				break
			}
		}
	}
	return len(b), nil
}

func (p *probeBuffer) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.b.String()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

func bootID() string {
	b, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b))
}

func probeCacheFile() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "hardenvm", "kvm-probe")
}

// chooseAccel resolves auto, and checks that kvm works when asked for.
func chooseAccel(ctx context.Context, c *Config) (Accel, error) {
	if a, _ := arch.Lookup(c.Arch); a.GOARCH != runtime.GOARCH {
		// KVM runs guests of the host's own architecture only.
		if c.Accel == AccelKVM {
			return "", fmt.Errorf("vm: --accel kvm: an %s guest on an %s host needs emulation; use --accel tcg (or auto)", a.Debian, runtime.GOARCH)
		}
		return AccelTCG, nil
	}
	switch c.Accel {
	case AccelTCG:
		return AccelTCG, nil
	case AccelKVM:
		if err := ProbeKVM(ctx, c.QEMU, c.Log); err != nil {
			return "", fmt.Errorf("vm: --accel kvm: %w; use --accel tcg (or auto)", err)
		}
		return AccelKVM, nil
	default:
		if err := ProbeKVM(ctx, c.QEMU, c.Log); err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			c.Log.Warn("falling back to TCG (software emulation)", "reason", err.Error())
			return AccelTCG, nil
		}
		c.Log.Info("using KVM")
		return AccelKVM, nil
	}
}
