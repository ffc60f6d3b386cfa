package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/boot/measure"
	"golang.org/x/sys/unix"
)

// Where stage 1 mounts the verified root before switching to it.
const sysroot = "/sysroot"

// Bounds of the waits in stage 1 (TCG is slow: be generous, but finite).
const (
	diskTimeout = 30 * time.Second
	tpmTimeout  = 10 * time.Second
)

func stage1() error {
	if err := mountKernelFS(); err != nil {
		return err
	}
	// Only warnings and errors from the kernel on the console from now
	// on (dm-verity's corruption reports are errors), so that the init's
	// own lines are not cut by informational messages.
	os.WriteFile("/proc/sys/kernel/printk", []byte("4"), 0)
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return fmt.Errorf("reading the kernel command line: %w", err)
	}
	p, err := bootparams.Parse(string(cmdline))
	if err != nil {
		return err
	}
	rootHash, _ := hex.DecodeString(p.RootHash) // Parse checked it
	release, _ := os.ReadFile("/" + bootparams.ReleasePath)
	var uts unix.Utsname
	unix.Uname(&uts)
	running := unix.ByteSliceToString(uts.Release[:])
	say("stage 1 on kernel %s, root hash %s, %s, lockdown %s", running, p.RootHash, p.Corruption, lockdown())
	if r := strings.TrimSpace(string(release)); r != "" && r != running {
		return fmt.Errorf("the initramfs modules are for kernel %s but kernel %s is running", r, running)
	}
	if p.Unhardened {
		if err := checkUnhardened(readSecureBootState()); err != nil {
			return err
		}
		say("UNHARDENED benchmark image (%s, Secure Boot off): root without dm-verity, config unverified, no TPM", bootparams.UnhardenedParam)
	}
	if err := loadModules(); err != nil {
		return err
	}
	disk, err := findPartitions(rootHash, diskTimeout)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(sysroot, 0o755); err != nil {
		return err
	}
	var cfg *verifiedConfig
	var tpm *os.File
	if p.Unhardened {
		if err := unix.Mount(disk.root.dev, sysroot, "erofs", unix.MS_RDONLY|unix.MS_NODEV, ""); err != nil {
			return fmt.Errorf("mounting the root %s (erofs, read-only): %w", disk.root.dev, err)
		}
		say("root mounted UNVERIFIED from %s", disk.root.dev)
		cfg = plainConfig(disk)
	} else {
		root, err := setupVerity(disk, rootHash, p.Corruption)
		if err != nil {
			return err
		}
		if err := unix.Mount(root.dev, sysroot, "erofs", unix.MS_RDONLY|unix.MS_NODEV, ""); err != nil {
			return fmt.Errorf("mounting the verified root %s (erofs, read-only): %w", root.dev, err)
		}
		say("dm table %s: %s", root.name, root.table)
		say("root verified %s", p.RootHash)
		if cfg, err = handleConfig(disk, p.Corruption); err != nil {
			return err
		}
		if tpm, err = openTPM(tpmTimeout); err != nil {
			return err
		}
		defer tpm.Close()
	}
	// The log lives on a tmpfs at the root's /run, mounted now so that
	// it moves with the root.
	if err := unix.Mount("tmpfs", sysroot+"/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
		return fmt.Errorf("mounting /run in the root: %w", err)
	}
	if cfg != nil {
		if err := mountConfig(cfg); err != nil {
			return err
		}
	}
	var m *measurer
	if tpm != nil {
		logf, err := openEventLog(sysroot + measure.LogPath)
		if err != nil {
			return err
		}
		defer logf.Close()
		m = &measurer{tpm: tpm, log: logf}
		if err := m.extend(measure.RootHash(rootHash)); err != nil {
			return err
		}
		if cfg != nil {
			if err := m.extend(measure.ConfigRootHash(cfg.rootHash)); err != nil {
				return err
			}
		}
	}

	next := "/" + bootparams.RootInit
	if st, err := os.Stat(sysroot + next); err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("the verified root has no executable %s (the build installs the guest init there)", next)
	}
	if err := switchRoot(sysroot); err != nil {
		return err
	}
	if m != nil {
		if err := m.extend(measure.EnterUserspace()); err != nil {
			return err
		}
		m.check()
	}
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HARDENVM_CONSOLE=" + p.Console, diskEnv + "=" + disk.name}
	err = unix.Exec(next, []string{"hardenvm-init", stage2Arg}, env)
	return fmt.Errorf("starting stage 2 %s: %w", next, err)
}

// lockdown is the kernel's lockdown mode, the bracketed word of
// /sys/kernel/security/lockdown ("none [integrity] confidentiality").
func lockdown() string {
	b, err := os.ReadFile("/sys/kernel/security/lockdown")
	if err != nil {
		return "unknown"
	}
	s := string(b)
	if i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']'); i >= 0 && j > i {
		return s[i+1 : j]
	}
	return "unknown"
}

// mountKernelFS mounts what stage 1 needs: devtmpfs (the kernel creates
// the nodes, no udev), proc, sysfs and securityfs.
func mountKernelFS() error {
	for _, m := range []struct {
		src, dir, fstype string
		flags            uintptr
		data             string
	}{
		{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID | unix.MS_NOEXEC, "mode=0755"},
		{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
		{"securityfs", "/sys/kernel/security", "securityfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	} {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.src, m.dir, m.fstype, m.flags, m.data); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mounting %s on %s: %w", m.fstype, m.dir, err)
		}
	}
	return nil
}

// loadModules loads the modules the build listed, in its order (each
// after its dependencies). A module already loaded or built in is fine;
// any other refusal (under lockdown: an unsigned module) is fatal.
func loadModules() error {
	list, err := os.ReadFile("/" + bootparams.ModulesList)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var loaded []string
	for _, name := range strings.Fields(string(list)) {
		if strings.Contains(name, "/") {
			return fmt.Errorf("%s: bad module file name %q", bootparams.ModulesList, name)
		}
		path := filepath.Join("/", bootparams.ModulesDir, name)
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("loading kernel module: %w", err)
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("loading kernel module %s: %w", name, err)
		}
		loaded = append(loaded, strings.TrimSuffix(name, ".ko"))
	}
	say("loaded modules: %s", strings.Join(loaded, " "))
	return nil
}
