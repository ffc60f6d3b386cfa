// Package qemu holds the boot tests: real QEMU, real firmware, a real
// kernel and swtpm. They skip with a message naming the missing package on
// a developer machine, and fail instead when HARDENVM_REQUIRE_QEMU=1 (CI).
package qemu

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/internal/testkernel"
	"github.com/hardenvm/hardenvm/pkg/cpio"
	"github.com/hardenvm/hardenvm/pkg/vm"
	"github.com/hardenvm/hardenvm/test/qemu/testinitrd"
)

// requireQEMU checks for the programs every boot test needs.
func requireQEMU(t testing.TB) {
	t.Helper()
	testenv.Tool(t, "qemu-system-x86_64", "qemu-system-x86")
	testenv.Tool(t, "swtpm", "swtpm")
	testenv.Tool(t, "swtpm_setup", "swtpm-tools")
	testenv.File(t, testinitrd.Busybox, "busybox-static")
}

// testKernel returns the Debian kernel pinned in kernel.lock.
func testKernel(t testing.TB) string { return testkernel.Vmlinuz(t) }

// initrd writes the test initramfs into the test's temp dir.
func initrd(t testing.TB, then testinitrd.Then) string {
	t.Helper()
	return writeInitrd(t, func(w io.Writer) error { return testinitrd.Write(w, testinitrd.Busybox, then, 0) })
}

// scriptInitrd writes a busybox initramfs running script as /init, with
// extra entries (kernel modules), into the test's temp dir.
func scriptInitrd(t *testing.T, script string, extra []cpio.Entry) string {
	t.Helper()
	return writeInitrd(t, func(w io.Writer) error {
		return testinitrd.WriteScript(w, testinitrd.Busybox, script, extra, 0)
	})
}

func writeInitrd(t testing.TB, fn func(io.Writer) error) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "initrd.cpio.gz")
	if err := atomicfile.Write(p, 0o644, fn); err != nil {
		t.Fatal(err)
	}
	return p
}

// logWriter sends the console to the test log, line by line, when
// HARDENVM_TEST_CONSOLE=1 (a failing test shows the console's tail anyway).
type logWriter struct {
	t   testing.TB
	buf []byte
}

func (w *logWriter) Write(p []byte) (int, error) {
	if os.Getenv("HARDENVM_TEST_CONSOLE") != "1" {
		return len(p), nil
	}
	w.buf = append(w.buf, p...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			break
		}
		w.t.Log("console: " + strings.TrimRight(string(w.buf[:i]), "\r"))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// boot starts a VM for the test and stops it when the test ends, however
// it ends.
func boot(t testing.TB, cfg vm.Config) *vm.Machine {
	t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	m, err := vm.Start(context.Background(), cfg, &logWriter{t: t})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			t.Logf("last console output: %s (serial log %s)", m.Console().Tail(15), m.Config().SerialLog)
		}
	})
	return m
}

func expect(t testing.TB, m *vm.Machine, d time.Duration, pattern string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	subs, err := m.Console().Expect(ctx, regexp.MustCompile(pattern))
	if err != nil {
		t.Fatal(err)
	}
	return subs
}

// TestBootKernelWithTPM boots the Debian cloud kernel with the test
// initramfs and a swtpm TPM, checks the TPM is there, talks to a shell on
// the console, and powers off.
func TestBootKernelWithTPM(t *testing.T) {
	requireQEMU(t)
	m := boot(t, vm.Config{
		Kernel: testKernel(t), Initrd: initrd(t, testinitrd.Shell),
		Append: "console=ttyS0 panic=-1", TPM: true,
	})
	t.Logf("accelerator: %s", m.Accel)
	subs := expect(t, m, 2*time.Minute, testinitrd.StartMarker+` kernel=(\S+)\r?\n`)
	if !strings.HasSuffix(subs[1], "-cloud-amd64") {
		t.Errorf("kernel %q is not the Debian cloud kernel", subs[1])
	}
	if got := expect(t, m, 30*time.Second, testinitrd.TPMMarker+` (\w+)(?: major=(\d))?\r?\n`); got[1] != "present" || got[2] != "2" {
		t.Fatalf("TPM: %q, want present major=2", got[0])
	}
	expect(t, m, 30*time.Second, testinitrd.ReadyMarker)

	if err := m.Console().Send("echo answer=$((6*7)) tpm=$(ls /sys/class/tpm)"); err != nil {
		t.Fatal(err)
	}
	if got := expect(t, m, 30*time.Second, `answer=(\d+) tpm=(\w*)\r?\n`); got[1] != "42" || got[2] != "tpm0" {
		t.Fatalf("shell answered %q, want answer=42 tpm=tpm0", got[0])
	}
	m.Console().Send("poweroff -f")
	if err := m.WaitTimeout(30 * time.Second); err != nil {
		t.Fatalf("after poweroff: %v", err)
	}
}

// TestKVMProbeBounded runs the real KVM probe without any remembered
// answer: it must decide within its bound, and --accel kvm must either work
// or fail with a clear error, never hang.
func TestKVMProbeBounded(t *testing.T) {
	requireQEMU(t)
	kernel := testKernel(t)
	start := time.Now()
	err := vm.Probe(context.Background(), "qemu-system-x86_64")
	took := time.Since(start)
	t.Logf("KVM probe: %v in %v", err, took)
	if took > vm.ProbeTimeout+5*time.Second {
		t.Errorf("probe took %v, bound is %v", took, vm.ProbeTimeout)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := vm.Config{Accel: vm.AccelKVM, StateDir: t.TempDir(), Kernel: kernel,
		Initrd: initrd(t, testinitrd.Poweroff), Append: "console=ttyS0 panic=-1"}
	start = time.Now()
	m, kerr := vm.Start(ctx, cfg, nil)
	if err != nil {
		// KVM is broken here: --accel kvm must refuse quickly and say so.
		if kerr == nil {
			m.Stop()
			t.Fatal("--accel kvm started although the probe failed")
		}
		if !strings.Contains(kerr.Error(), "KVM does not run guests") || !strings.Contains(kerr.Error(), "--accel tcg") {
			t.Errorf("--accel kvm error %q does not explain what to do", kerr)
		}
		if time.Since(start) > vm.ProbeTimeout+5*time.Second {
			t.Errorf("--accel kvm took %v to fail", time.Since(start))
		}
		return
	}
	if kerr != nil {
		t.Fatalf("probe passed but --accel kvm failed: %v", kerr)
	}
	defer m.Stop()
	if err := m.Console().ExpectString(ctx, testinitrd.ReadyMarker); err != nil {
		t.Fatalf("KVM boot: %v", err)
	}
}

// hardenvmBinary builds the CLI once for the tests that drive it as a
// separate process.
func hardenvmBinary(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "hardenvm")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/hardenvm/hardenvm/cmd/hardenvm").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// processesMentioning lists the pids whose command line contains s.
func processesMentioning(s string) []string {
	var pids []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), s) {
			pids = append(pids, e.Name()+":"+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return pids
}

// assertNoneLeft waits (bounded) for every process that mentions the
// state directory to be gone.
func assertNoneLeft(t *testing.T, state string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := processesMentioning(state)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left behind: %q", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRunSignalsLeaveNothing interrupts `hardenvm run` with SIGINT and
// SIGTERM while the guest is up: the command fails, and neither QEMU nor
// swtpm survives it.
func TestRunSignalsLeaveNothing(t *testing.T) {
	requireQEMU(t)
	bin := hardenvmBinary(t)
	kernel, rd := testKernel(t), initrd(t, testinitrd.Shell)
	for _, sig := range []os.Signal{os.Interrupt, syscallTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state")
			cmd := exec.Command(bin, "run", "--log-level", "info", "--state", state, "--no-stdin", "--timeout", "3m",
				"--kernel", kernel, "--initrd", rd, "--append", "console=ttyS0 panic=-1")
			stdout, _ := cmd.StdoutPipe()
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			ready := make(chan bool, 1)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					if strings.Contains(sc.Text(), testinitrd.ReadyMarker) {
						ready <- true
						break
					}
				}
				io.Copy(io.Discard, stdout)
				close(ready)
			}()
			select {
			case ok := <-ready:
				if !ok {
					t.Fatalf("hardenvm run ended before the guest was ready: %s", stderr.String())
				}
			case <-time.After(2 * time.Minute):
				t.Fatal("guest not ready within 2m")
			}
			if log := stderr.String(); !strings.Contains(log, "falling back to TCG") && !strings.Contains(log, "using KVM") {
				t.Errorf("the log does not say which accelerator --accel auto chose: %q", log)
			}
			if len(processesMentioning(state)) < 2 {
				t.Fatalf("expected QEMU and swtpm running, found %q", processesMentioning(state))
			}
			cmd.Process.Signal(sig)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err == nil {
					t.Error("hardenvm run exited 0 after a signal")
				}
			case <-time.After(20 * time.Second):
				t.Fatal("hardenvm run did not exit within 20s of the signal")
			}
			if !strings.Contains(stderr.String(), "interrupted") {
				t.Errorf("stderr %q does not say it was interrupted", stderr.String())
			}
			assertNoneLeft(t, state)
		})
	}
}

// TestKilledParentLeavesNothing kills (SIGKILL, no clean-up code runs) a
// process that started a VM, as when a test binary times out: QEMU and
// swtpm must die with it.
func TestKilledParentLeavesNothing(t *testing.T) {
	requireQEMU(t)
	state := filepath.Join(t.TempDir(), "state")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperVM$")
	cmd.Env = append(os.Environ(), "HARDENVM_HELPER_VM="+state,
		"HARDENVM_HELPER_KERNEL="+testKernel(t), "HARDENVM_HELPER_INITRD="+initrd(t, testinitrd.Shell))
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdout)
	ready := false
	for sc.Scan() {
		if sc.Text() == "HELPER-READY" {
			ready = true
			break
		}
	}
	if !ready {
		t.Fatal("helper did not start its VM")
	}
	if n := len(processesMentioning(state)); n < 2 {
		t.Fatalf("expected QEMU and swtpm running, found %d", n)
	}
	cmd.Process.Kill()
	cmd.Wait()
	assertNoneLeft(t, state)
}

// TestHelperVM is not a test: TestKilledParentLeavesNothing runs it in a
// child process that it then kills.
func TestHelperVM(t *testing.T) {
	state := os.Getenv("HARDENVM_HELPER_VM")
	if state == "" {
		t.Skip("helper process for TestKilledParentLeavesNothing")
	}
	m, err := vm.Start(context.Background(), vm.Config{
		StateDir: state, TPM: true, Kernel: os.Getenv("HARDENVM_HELPER_KERNEL"),
		Initrd: os.Getenv("HARDENVM_HELPER_INITRD"), Append: "console=ttyS0",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := m.Console().ExpectString(ctx, testinitrd.ReadyMarker); err != nil {
		t.Fatal(err)
	}
	fmt.Println("HELPER-READY")
	<-m.Done() // until killed
}
