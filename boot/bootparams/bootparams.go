// Package bootparams is the contract between the image build and the guest
// init: what the signed kernel command line (the UKI's .cmdline) tells the
// init, and where the build puts things in the initramfs.
//
// The command line carries the verity root hash of the root partition, so
// the firmware's signature check on the UKI covers the whole root file
// system. With Secure Boot on and a .cmdline section present, systemd-stub
// ignores any command line passed at boot, so nothing here can be
// overridden by a user.
package bootparams

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// Corruption policies of dm-verity (kernel verity.rst).
const (
	RestartOnCorruption = "restart_on_corruption"
	PanicOnCorruption   = "panic_on_corruption"
)

// Console modes of the read-only root console.
const (
	ConsoleShell = "shell"
	ConsoleNone  = "none"
)

// Paths inside the initramfs.
const (
	InitPath      = "init"                        // the hardenvm-init binary
	ModulesDir    = "lib/modules"                 // decompressed .ko files
	ModulesList   = "etc/hardenvm/modules"        // load order, one file name per line, dependencies first
	AdminCertPath = "etc/hardenvm/admin.crt"      // PEM: verifies the config partition's signature
	ReleasePath   = "etc/hardenvm/kernel-release" // uname -r of the kernel the modules belong to
)

// RootInit is where the build installs the guest init in the root file
// system: stage 1 execs it as stage 2 (PID 1) after switch_root.
const RootInit = "usr/lib/hardenvm/init"

// RootAgent is where the build installs hardenvm-agent (the attestation
// agent, cmd/hardenvm-agent) when given one; a spec runs it as a service
// with command "/usr/lib/hardenvm/hardenvm-agent".
const RootAgent = "usr/lib/hardenvm/hardenvm-agent"

// Params are the hardenvm.* command line parameters.
type Params struct {
	RootHash   string // hardenvm.roothash: hex verity root hash of the root partition
	Corruption string // hardenvm.verity: RestartOnCorruption (default) or PanicOnCorruption
	Console    string // hardenvm.console: ConsoleShell (default) or ConsoleNone
	// Arch: the Debian architecture (its serial console), amd64 when
	// empty; not a hardenvm.* parameter: Parse leaves it empty.
	Arch       string
	Unhardened bool // hardenvm.unhardened: benchmark builds only (UnhardenedParam)
}

// BaseArgs are the kernel's own arguments every image boots with: the
// serial console, a read-only root, kernel lockdown (integrity mode, also
// implied by Secure Boot on Debian kernels), a reboot instead of a hang
// when the kernel panics, and no_timer_check: under software emulation on a
// loaded host the kernel's IO-APIC timer check can fail and panic ("IO-APIC
// + timer doesn't work!"), which says nothing about the image.
var BaseArgs = []string{"console=ttyS0", "ro", "lockdown=integrity", "panic=10", "no_timer_check"}

// BaseArgsARM64 are BaseArgs for arm64: QEMU virt's serial port is a
// PL011 (ttyAMA0), and no_timer_check is an x86 parameter (on arm64 the
// kernel would hand it to init as an argument).
var BaseArgsARM64 = []string{"console=ttyAMA0", "ro", "lockdown=integrity", "panic=10"}

// baseArgs are the base arguments by Debian architecture (pkg/arch names
// them; the guest init, which links this package, does not link that one).
var baseArgs = map[string][]string{"": BaseArgs, "amd64": BaseArgs, "arm64": BaseArgsARM64}

// Cmdline is the full kernel command line for p.
func (p Params) Cmdline() (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	args := append([]string{}, baseArgs[p.Arch]...)
	args = append(args,
		"hardenvm.roothash="+p.RootHash,
		"hardenvm.verity="+p.corruption(),
		"hardenvm.console="+p.console())
	if p.Unhardened {
		args = append(args, UnhardenedParam+"="+unhardenedValue)
	}
	return strings.Join(args, " "), nil
}

func (p Params) corruption() string {
	if p.Corruption == "" {
		return RestartOnCorruption
	}
	return p.Corruption
}

func (p Params) console() string {
	if p.Console == "" {
		return ConsoleShell
	}
	return p.Console
}

// Validate checks every parameter.
func (p Params) Validate() error {
	b, err := hex.DecodeString(p.RootHash)
	if err != nil || len(b) != 32 {
		return fmt.Errorf("bootparams: root hash %q: want 64 hex digits (sha256)", p.RootHash)
	}
	if c := p.corruption(); c != RestartOnCorruption && c != PanicOnCorruption {
		return fmt.Errorf("bootparams: verity corruption policy %q: want %s or %s", c, RestartOnCorruption, PanicOnCorruption)
	}
	if c := p.console(); c != ConsoleShell && c != ConsoleNone {
		return fmt.Errorf("bootparams: console %q: want %s or %s", c, ConsoleShell, ConsoleNone)
	}
	if _, ok := baseArgs[p.Arch]; !ok {
		return fmt.Errorf("bootparams: architecture %q: want amd64 or arm64", p.Arch)
	}
	return nil
}

// Parse reads the hardenvm.* parameters from a kernel command line
// (/proc/cmdline). A parameter given twice is an error: the command line
// is signed, so a duplicate means it was not built by hardenvm.
func Parse(cmdline string) (Params, error) {
	var p Params
	seen := map[string]bool{}
	for _, f := range strings.Fields(cmdline) {
		k, v, ok := strings.Cut(f, "=")
		if !ok || !strings.HasPrefix(k, "hardenvm.") {
			continue
		}
		if seen[k] {
			return Params{}, fmt.Errorf("bootparams: %s given twice on the kernel command line", k)
		}
		seen[k] = true
		switch k {
		case "hardenvm.roothash":
			p.RootHash = v
		case "hardenvm.verity":
			p.Corruption = v
		case "hardenvm.console":
			p.Console = v
		case UnhardenedParam:
			if v != unhardenedValue {
				return Params{}, fmt.Errorf("bootparams: %s=%q: want %s", k, v, unhardenedValue)
			}
			p.Unhardened = true
		default:
			return Params{}, fmt.Errorf("bootparams: unknown parameter %s", k)
		}
	}
	p.Corruption, p.Console = p.corruption(), p.console()
	if err := p.Validate(); err != nil {
		return Params{}, err
	}
	return p, nil
}

// The GPT partition names of the disk, as systemd-repart labels them:
// pkg/disk writes them and the guest init finds the config partition by
// PartitionConfig. (Kept at the end of the file: the init's bytes hold the
// line numbers of what it links from here.)
const (
	PartitionESP           = "esp"
	PartitionRoot          = "root-x86-64"
	PartitionRootVerity    = "root-x86-64-verity"
	PartitionRootVeritySig = "root-x86-64-verity-sig"
	PartitionConfig        = "hardenvm-config"
)

// UnhardenedParam marks the command line of an image built with
// `hardenvm build --unhardened-for-benchmarks`: the guest init mounts the
// root partition without dm-verity and the config partition without
// checking its signature, and neither needs nor extends a TPM. It exists
// so that benchmarks can put a number on what the hardening costs (the
// same image with it and without it, side by side).
//
// It cannot weaken a production image: the parameter is only ever on the
// signed command line (.cmdline of the UKI) of an image whose manifest
// says "unhardened": true, which verify, attest and push refuse; with
// Secure Boot on, systemd-stub ignores any command line given at boot;
// and the init refuses the parameter whenever the firmware booted with
// Secure Boot on, so even an unhardened UKI signed by a production db
// key cannot take the unverified path on a production VM.
const UnhardenedParam = "hardenvm.unhardened"

// unhardenedValue is the only value UnhardenedParam takes: it names what
// the image is for. (At the end of the file, as the names above: a
// new file in this package changes the bytes of the guest's runtime shim.)
const unhardenedValue = "benchmarks-only"
