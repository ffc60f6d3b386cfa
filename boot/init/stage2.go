package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"golang.org/x/sys/unix"
)

// Arguments that select the init's other roles.
const (
	stage2Arg  = "stage2"
	consoleArg = "console"
)

// Bounds of an orderly shutdown.
const (
	stopTimeout = 10 * time.Second // per service, SIGTERM to SIGKILL
	killTimeout = 3 * time.Second  // for the remaining processes
)

// stage2 is PID 1 in the verified root.
func stage2() error {
	if os.Getpid() != 1 {
		return errors.New("stage 2 must run as PID 1")
	}
	if err := mountRuntimeFS(); err != nil {
		return err
	}
	// Ctrl-Alt-Del becomes SIGINT to PID 1, an orderly shutdown, instead
	// of an immediate reboot.
	unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF)
	guest := bootparams.Guest{}
	if b, err := os.ReadFile("/" + bootparams.GuestPath); err == nil {
		if guest, err = bootparams.ParseGuest(b); err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	} else {
		say("no /%s: no services to start", bootparams.GuestPath)
	}
	order, _ := guest.StartOrder() // ParseGuest checked it
	if disk := os.Getenv(diskEnv); disk != "" {
		if err := setupData(disk, guest.Data); err != nil {
			// The VM still runs (verified, read-only), without state.
			say("WARNING: data partition: %v", err)
		}
	}
	// Host directories, before any service: the engine finds them
	// when it starts containers that bind-mount them.
	if err := mountShares(); err != nil {
		say("WARNING: file sharing: %v", err)
	}
	if err := setupNetwork(); err != nil {
		say("WARNING: network: %v", err)
	}
	if len(dataMounts) > 0 {
		logDir = filepath.Join(bootparams.DataMount, "log")
	}
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}

	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGCHLD, unix.SIGTERM, unix.SIGINT, unix.SIGPWR, unix.SIGUSR1, unix.SIGUSR2)
	s := newSupervisor()
	power := make(chan string, 1)
	go watchPowerButton(power)

	started := time.Now()
	for _, svc := range order {
		s.start(svc)
	}
	if os.Getenv("HARDENVM_CONSOLE") != bootparams.ConsoleNone {
		user := guest.ConsoleUser
		if user == "" {
			user = "console"
		}
		s.console = &consoleProc{user: user}
		s.startConsole()
	} else {
		say("console disabled (hardenvm.console=none)")
	}
	// READY once every service with a readiness check passes it; the
	// checks run beside the loop that reaps children and restarts
	// services.
	ready := make(chan error, 1)
	go func() { ready <- waitReady(order, started) }()
	for {
		var why string
		restart := false
		select {
		case err := <-ready:
			if err != nil {
				say("NOT READY: %v", err)
			} else {
				say("READY")
			}
			ready = nil
			continue
		case sig := <-sigs:
			if sig == unix.SIGCHLD {
				s.reap()
				continue
			}
			// busybox reboot sends SIGTERM, halt SIGUSR1, poweroff
			// SIGUSR2; Ctrl-Alt-Del is SIGINT.
			restart = sig == unix.SIGTERM || sig == unix.SIGINT
			why = "signal " + sig.String()
		case why = <-power:
		case name := <-s.restart:
			s.restartService(name)
			continue
		}
		say("shutting down (%s)", why)
		drainConsole()
		s.shutdown(sigs)
		unix.Sync()
		unmountShares()
		unmountData()
		unix.Sync()
		if restart {
			say("rebooting")
			drainConsole()
			return unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
		}
		say("powering off")
		drainConsole()
		return unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	}
}

// mountRuntimeFS mounts the writable scratch space of the running system:
// /tmp (tmpfs) and /dev/pts. /run came from stage 1.
func mountRuntimeFS() error {
	for _, m := range []struct {
		src, dir, fstype string
		flags            uintptr
		data             string
	}{
		{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777"},
		{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "mode=0620,ptmxmode=0666"},
	} {
		if _, err := os.Stat(m.dir); err != nil {
			if m.dir == "/dev/pts" {
				if err := os.Mkdir(m.dir, 0o755); err != nil {
					return err
				}
			} else {
				say("no %s in the root: not mounted", m.dir)
				continue
			}
		}
		if err := unix.Mount(m.src, m.dir, m.fstype, m.flags, m.data); err != nil {
			return fmt.Errorf("mounting %s on %s: %w", m.fstype, m.dir, err)
		}
	}
	return nil
}

// watchPowerButton reports the ACPI power button (KEY_POWER from the
// "Power Button" input device; the button and evdev modules must be in
// the initramfs).
func watchPowerButton(ch chan<- string) {
	var dev string
	for deadline := time.Now().Add(30 * time.Second); dev == "" && time.Now().Before(deadline); {
		paths, _ := filepath.Glob("/sys/class/input/event*/device/name")
		for _, p := range paths {
			if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), "Power Button") {
				dev = "/dev/input/" + filepath.Base(filepath.Dir(filepath.Dir(p)))
				break
			}
		}
		if dev == "" {
			time.Sleep(500 * time.Millisecond)
		}
	}
	if dev == "" {
		say("no ACPI power button device: shutdown only by signal")
		return
	}
	f, err := os.Open(dev)
	if err != nil {
		say("power button %s: %v", dev, err)
		return
	}
	defer f.Close()
	ev := make([]byte, 24) // struct input_event on 64-bit
	for {
		if _, err := f.Read(ev); err != nil {
			say("power button %s: %v", dev, err)
			return
		}
		typ := uint16(ev[16]) | uint16(ev[17])<<8
		code := uint16(ev[18]) | uint16(ev[19])<<8
		if typ == 1 && code == 116 && ev[20] == 1 { // EV_KEY, KEY_POWER, pressed
			ch <- "ACPI power button"
			return
		}
	}
}
