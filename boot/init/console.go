package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/hardenvm/hardenvm/pkg/mountinfo"
	"golang.org/x/sys/unix"
)

// The read-only root console: a shell on the serial console as an
// unprivileged user. PID 1 starts the init again as a helper (consoleArg)
// in a new mount namespace, on the console tty as its controlling
// terminal. The helper, still root, makes every mount in its namespace
// read-only, drops every capability from the bounding set, switches to
// the console user, sets no_new_privs and execs the user's shell. So the
// shell can look at everything it may read but change nothing, and no
// setuid or file-capability binary can give it privileges back.

// consoleTTY is the device behind /dev/console (console=ttyS0 → /dev/ttyS0).
func consoleTTY() string {
	b, err := os.ReadFile("/sys/class/tty/console/active")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return "/dev/" + f[len(f)-1]
	}
	return "/dev/console"
}

func (s *supervisor) startConsole() {
	tty, err := os.OpenFile(consoleTTY(), os.O_RDWR, 0)
	if err != nil {
		say("console: %v", err)
		return
	}
	defer tty.Close()
	self, err := os.Executable()
	if err != nil {
		say("console: %v", err)
		return
	}
	p, err := os.StartProcess(self, []string{"hardenvm-console", consoleArg, s.console.user}, &os.ProcAttr{
		Dir: "/", Env: []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, Files: []*os.File{tty, tty, tty},
		Sys: &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0, Unshareflags: unix.CLONE_NEWNS},
	})
	if err != nil {
		say("console: %v", err)
		return
	}
	s.console.pid = p.Pid
	p.Release()
}

// consoleHelper runs in the console's fresh mount namespace (PID 1 made
// it private) and ends by exec'ing the shell.
func consoleHelper(args []string) error {
	if len(args) != 1 {
		return errors.New("console: want the user name")
	}
	// Bounding set and no_new_privs are per thread: do everything on the
	// thread that execs.
	runtime.LockOSThread()
	u, err := lookupUser(args[0])
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	if u.uid == 0 {
		return errors.New("console: refusing to run the console as root")
	}
	if err := remountAllReadOnly(); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	for c := 0; c <= lastCap(); c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("console: dropping capability %d: %w", c, err)
		}
	}
	groups := make([]int, len(u.groups))
	for i, g := range u.groups {
		groups[i] = int(g)
	}
	if err := unix.Setgroups(groups); err != nil {
		return fmt.Errorf("console: setgroups: %w", err)
	}
	if err := unix.Setresgid(int(u.gid), int(u.gid), int(u.gid)); err != nil {
		return fmt.Errorf("console: setgid: %w", err)
	}
	if err := unix.Setresuid(int(u.uid), int(u.uid), int(u.uid)); err != nil {
		return fmt.Errorf("console: setuid: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("console: no_new_privs: %w", err)
	}
	if err := checkNoCaps(); err != nil {
		return fmt.Errorf("console: %w", err)
	}
	os.Chdir(u.home)
	shell := u.shell
	if shell == "" || strings.HasSuffix(shell, "nologin") {
		shell = "/bin/sh"
	}
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + u.home, "USER=" + u.name, "LOGNAME=" + u.name,
		"SHELL=" + shell, "TERM=vt100", "PS1=console$ "}
	fmt.Fprintf(os.Stdout, "%sread-only console as %s (uid %d); it can look, not change\n", prefix, u.name, u.uid)
	return unix.Exec(shell, []string{"-" + baseName(shell)}, env)
}

func baseName(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

// remountAllReadOnly makes every mount of this namespace read-only,
// keeping its nosuid/nodev/noexec flags.
func remountAllReadOnly() error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer f.Close()
	var points []struct {
		dir   string
		flags uintptr
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 {
			continue
		}
		var flags uintptr
		for _, o := range strings.Split(fs[5], ",") {
			switch o {
			case "nosuid":
				flags |= unix.MS_NOSUID
			case "nodev":
				flags |= unix.MS_NODEV
			case "noexec":
				flags |= unix.MS_NOEXEC
			case "noatime":
				flags |= unix.MS_NOATIME
			case "relatime":
				flags |= unix.MS_RELATIME
			}
		}
		points = append(points, struct {
			dir   string
			flags uintptr
		}{mountinfo.Unescape(fs[4]), flags})
	}
	for _, p := range points {
		if err := unix.Mount("", p.dir, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|p.flags, ""); err != nil {
			return fmt.Errorf("remounting %s read-only: %w", p.dir, err)
		}
	}
	return nil
}

func lastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if n, err2 := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && err2 == nil {
		return n
	}
	return 63
}

// checkNoCaps makes sure the process holds no capability at all.
func checkNoCaps() error {
	b, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		return err
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok || !strings.HasPrefix(k, "Cap") {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64); err != nil || n != 0 {
			return fmt.Errorf("%s is %s after dropping privileges", k, strings.TrimSpace(v))
		}
	}
	return nil
}

type account struct {
	name, home, shell string
	uid, gid          uint32
	groups            []uint32
}

// lookupUser reads the root's /etc/passwd and /etc/group (generated by
// the build from the spec).
func lookupUser(name string) (*account, error) {
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return nil, err
	}
	group, _ := os.ReadFile("/etc/group") // no group file: primary group only
	return parseAccount(name, passwd, group)
}

// parseAccount finds name in passwd and its supplementary groups in group.
func parseAccount(name string, passwd, group []byte) (*account, error) {
	var u *account
	for _, l := range strings.Split(string(passwd), "\n") {
		f := strings.Split(l, ":")
		if len(f) != 7 || f[0] != name {
			continue
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("/etc/passwd: bad entry for %s", name)
		}
		u = &account{name: name, uid: uint32(uid), gid: uint32(gid), home: f[5], shell: f[6], groups: []uint32{uint32(gid)}}
		break
	}
	if u == nil {
		return nil, fmt.Errorf("user %s is not in /etc/passwd", name)
	}
	for _, l := range strings.Split(string(group), "\n") {
		f := strings.Split(l, ":")
		if len(f) != 4 {
			continue
		}
		for _, m := range strings.Split(f[3], ",") {
			if m != name {
				continue
			}
			if g, err := strconv.ParseUint(f[2], 10, 32); err == nil && uint32(g) != u.gid {
				u.groups = append(u.groups, uint32(g))
			}
		}
	}
	return u, nil
}
