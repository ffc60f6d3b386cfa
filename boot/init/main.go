// Command init is hardenvm-init, PID 1 of a hardenvm VM. It is built
// static (CGO_ENABLED=0 go build -trimpath -ldflags=-buildid=) and runs
// twice:
//
// Stage 1 is /init in the initramfs. It mounts the kernel file systems,
// loads the kernel modules the build listed, finds the root and
// root-verity partitions by their Discoverable Partitions type GUIDs and
// the UUIDs derived from the root hash on the signed kernel command line
// (hardenvm.roothash), checks the verity superblock and the top of the hash
// tree against that root hash, maps the root through dm-verity with the
// device-mapper ioctls (the corruption policy from hardenvm.verity), mounts
// it read-only, measures it into PCR 15 (see package measure for the exact
// bytes and the event log in /run), and switches root to it, where it execs
// itself (bootparams.RootInit) as stage 2.
//
// Stage 2 is PID 1 of the verified root (bootparams.GuestPath holds its
// settings). It mounts /tmp and /dev/pts; creates the data partition in
// the disk's free space on first boot (ext4, mounted nosuid,nodev at
// bootparams.DataMount, with the image's data directories bind-mounted
// from it); configures the NIC by DHCP; starts the services in dependency
// order and restarts them by policy with a doubling backoff, their output
// in log files (on the data partition when there is one) and on the
// console; reaps every orphan; runs the read-only root console (see
// console.go) unless hardenvm.console=none; and shuts down in order on the
// ACPI power button or a signal: services stopped newest first (SIGTERM,
// then SIGKILL), the data partition unmounted, then power-off (SIGUSR1,
// SIGUSR2, SIGPWR, power button) or reboot (SIGTERM, SIGINT/Ctrl-Alt-Del),
// as busybox's halt, poweroff and reboot ask.
//
// Any failure in stage 1 prints one line, "hardenvm-init: FATAL: …", and
// powers the VM off after a short delay. There is no rescue shell and no
// fallback: an unverified root is never mounted, except by an image built
// with --unhardened-for-benchmarks, and never under Secure Boot (see
// unhardened.go).
//
// Console markers tests and operators can wait for:
//
//	hardenvm-init: stage 1 on kernel <release>, root hash <hex>, <policy>, lockdown <mode>
//	hardenvm-init: root verified <hex root hash>
//	hardenvm-init: dm table root: <the table as the kernel reports it>
//	hardenvm-init: PCR 15 <hex>
//	hardenvm-init: READY
//
// The init's dependencies are the standard library, golang.org/x/sys and
// small stdlib-only packages of this module (TestDependencies keeps it so).
package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

const prefix = "hardenvm-init: "

// haltDelay is how long a fatal message stays before the VM powers off.
const haltDelay = 5 * time.Second

// say prints one line on the console.
func say(format string, args ...any) {
	fmt.Fprintf(os.Stdout, prefix+format+"\n", args...)
}

// fatal prints the one-line reason and powers the VM off. It never
// returns and never starts a shell.
func fatal(err error) {
	fmt.Fprintf(os.Stdout, "%sFATAL: %v\n", prefix, err)
	drainConsole()
	unix.Sync()
	time.Sleep(haltDelay)
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	// Only PID 1 may power off; otherwise (tests) exit non-zero.
	os.Exit(1)
}

// drainConsole waits until the console has sent what was written to it
// (tcdrain), so that a hang-up of the tty (the console shell's session
// ending) or a power-off cannot discard the last lines.
func drainConsole() {
	unix.IoctlSetInt(int(os.Stdout.Fd()), unix.TCSBRK, 1)
}

func main() {
	// A bug must still end in one line and a power-off, not a Go stack
	// trace followed by the kernel's "Attempted to kill init" panic.
	defer func() {
		if r := recover(); r != nil {
			fatal(fmt.Errorf("BUG: %v", r))
		}
	}()
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == stage2Arg:
		err = stage2()
	case len(os.Args) > 1 && os.Args[1] == consoleArg:
		err = consoleHelper(os.Args[2:])
	case os.Getpid() == 1:
		err = stage1()
	default:
		fmt.Fprintln(os.Stderr, "hardenvm-init: this is the guest init of a hardenvm VM; it runs only as PID 1")
		os.Exit(2)
	}
	if err != nil {
		fatal(err)
	}
}
