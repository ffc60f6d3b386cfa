package vm

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fakeQEMU writes a shell script standing in for qemu-system-x86_64 as a
// KVM probe sees it on the three kinds of machine there are.
func fakeQEMU(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "qemu-system-x86_64")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

var probeCases = []struct {
	name   string
	script string
	usable bool
}{
	// No KVM module, or /dev/kvm that QEMU cannot use: QEMU exits at once.
	{"exits at once", `echo "Could not access KVM kernel module: No such file or directory" >&2; exit 1`, false},
	// KVM that hangs: the guest never gets anywhere; QEMU ignores SIGTERM.
	{"never prints", `trap '' TERM; while :; do sleep 1; done`, false},
	// The BIOS under KVM prints half its banner, then stalls.
	{"stalls half-way", `printf 'SeaBIOS (version 1.16)\n'; trap '' TERM; sleep 600`, false},
	// KVM that works: the BIOS reaches its boot device search.
	{"works", `printf 'SeaBIOS\nBooting from ROM...\n'; sleep 600`, true},
}

// TestProbeBounded runs the probe against each kind of machine: every
// verdict comes within the bound, whether QEMU exits, hangs or succeeds.
func TestProbeBounded(t *testing.T) {
	for _, tt := range probeCases {
		t.Run(tt.name, func(t *testing.T) {
			qemu := fakeQEMU(t, tt.script)
			start := time.Now()
			err := Probe(context.Background(), qemu)
			took := time.Since(start)
			if took > ProbeTimeout+2*time.Second {
				t.Errorf("Probe took %v, bound is %v", took, ProbeTimeout)
			}
			if tt.usable != (err == nil) {
				t.Errorf("Probe = %v, want usable=%v", err, tt.usable)
			}
			if err != nil && !errors.Is(err, ErrKVMUnusable) {
				t.Errorf("Probe error %v does not wrap ErrKVMUnusable", err)
			}
		})
	}
}

// TestChooseAccelFallsBack: --accel auto settles on TCG (or KVM where it
// works) within the probe's bound on each kind of machine, with /dev/kvm
// present (stood in for by /dev/null) and absent.
func TestChooseAccelFallsBack(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // no remembered verdicts
	for _, dev := range []string{"/dev/null", filepath.Join(t.TempDir(), "no-kvm")} {
		for _, tt := range probeCases {
			t.Run(filepath.Base(dev)+"/"+tt.name, func(t *testing.T) {
				old := kvmDevice
				kvmDevice = dev
				defer func() { kvmDevice = old }()
				c := &Config{QEMU: fakeQEMU(t, tt.script), Accel: AccelAuto, Log: slog.New(slog.DiscardHandler)}
				start := time.Now()
				got, err := chooseAccel(context.Background(), c)
				if took := time.Since(start); took > ProbeTimeout+2*time.Second {
					t.Errorf("chooseAccel took %v, bound is %v", took, ProbeTimeout)
				}
				want := AccelTCG
				if tt.usable && dev == "/dev/null" {
					want = AccelKVM
				}
				if err != nil || got != want {
					t.Errorf("chooseAccel(auto) = %v, %v; want %v", got, err, want)
				}
				c.Accel = AccelKVM
				if _, err := chooseAccel(context.Background(), c); (err == nil) != (want == AccelKVM) {
					t.Errorf("chooseAccel(kvm) = %v; want an error exactly when KVM is unusable", err)
				}
			})
		}
	}
}

// TestChooseAccelForeignArch: KVM cannot run a guest of another
// architecture, so auto picks TCG without probing and kvm is refused.
func TestChooseAccelForeignArch(t *testing.T) {
	foreign := "arm64"
	if runtime.GOARCH == "arm64" {
		foreign = "amd64"
	}
	c := &Config{Arch: foreign, QEMU: "/nonexistent/qemu", Accel: AccelAuto, Log: slog.New(slog.DiscardHandler)}
	if got, err := chooseAccel(context.Background(), c); err != nil || got != AccelTCG {
		t.Errorf("chooseAccel(auto, %s guest) = %v, %v; want tcg", foreign, got, err)
	}
	c.Accel = AccelKVM
	if _, err := chooseAccel(context.Background(), c); err == nil || !strings.Contains(err.Error(), "needs emulation") {
		t.Errorf("chooseAccel(kvm, %s guest) = %v; want an error saying it needs emulation", foreign, err)
	}
}
