package attempts

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	register(Attempt{Name: "block-device-mount", Escape: true,
		Doc: "mknod each disk in /proc/partitions and mount it read-only", Run: blockDeviceMount})
	register(Attempt{Name: "sysrq-trigger", Escape: true,
		Doc: `write "h" (help) to /proc/sysrq-trigger`, Run: sysrqTrigger})
	register(Attempt{Name: "core-pattern", Escape: true,
		Doc: "write /proc/sys/kernel/core_pattern with its current value", Run: corePattern})
	register(Attempt{Name: "release-agent", Escape: true,
		Doc: "mount a cgroup v1 hierarchy (also after unshare -UrmC) and rewrite release_agent with its value", Run: releaseAgent})
	register(Attempt{Name: "kernel-module", Escape: true,
		Doc: "init_module and finit_module with an image that cannot load", Run: kernelModule})
	register(Attempt{Name: "open-by-handle-at", Escape: true,
		Doc: "open the host filesystem's root by handle through a bind-mounted file (shocker), read-only", Run: openByHandle})
	register(Attempt{Name: "remount-rw", Escape: true, Internal: true,
		Doc: "ARGS: PATH: remount a read-only bind mount read-write (then back to read-only)", Run: remountRW})
	register(Attempt{Name: "proc-exe-write", Escape: true,
		Doc: "open the runtime's binary for writing via /proc/PID/exe while it execs into the container (never written)", Run: procExeWrite})
}

func blockDeviceMount(_ []string) Result {
	f, err := os.Open("/proc/partitions")
	if err != nil {
		return result(false, "no /proc/partitions: %v", err)
	}
	defer f.Close()
	var notes []string
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 4 {
			continue
		}
		maj, err1 := strconv.Atoi(fs[0])
		min, err2 := strconv.Atoi(fs[1])
		if err1 != nil || err2 != nil {
			continue
		}
		n++
		node := filepath.Join(os.TempDir(), "hardenvm-blk-"+fs[3])
		os.Remove(node)
		if err := unix.Mknod(node, unix.S_IFBLK|0o600, int(unix.Mkdev(uint32(maj), uint32(min)))); err != nil {
			notes = append(notes, fmt.Sprintf("mknod %s (%d:%d): %v", fs[3], maj, min, err))
			// Maybe the runtime left a node in /dev.
			node = "/dev/" + fs[3]
			if _, err := os.Stat(node); err != nil {
				continue
			}
		}
		dir, _ := os.MkdirTemp("", "hardenvm-mnt-")
		for _, typ := range []string{"ext4", "xfs", "btrfs", "vfat", "erofs", "squashfs"} {
			err := unix.Mount(node, dir, typ, unix.MS_RDONLY, "")
			if err == nil {
				unix.Unmount(dir, unix.MNT_DETACH)
				os.Remove(dir)
				os.Remove(node)
				return result(true, "mounted host disk %s (%s) read-only", fs[3], typ)
			}
			if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
				notes = append(notes, fmt.Sprintf("mount %s: %v", node, err))
				break
			}
		}
		os.Remove(dir)
		os.Remove(node)
	}
	if n == 0 {
		return result(false, "no disks listed in /proc/partitions")
	}
	return result(false, "%s", strings.Join(notes, "; "))
}

func sysrqTrigger(_ []string) Result {
	f, err := os.OpenFile("/proc/sysrq-trigger", os.O_WRONLY, 0)
	if err != nil {
		return result(false, "%v", err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("h")); err != nil {
		return result(false, "%v", err)
	}
	return result(true, "wrote h to /proc/sysrq-trigger")
}

// rewrite writes a file with the content it already has.
func rewrite(path string) (bool, string) {
	old, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Sprintf("read: %v", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return false, err.Error()
	}
	defer f.Close()
	val := bytes.TrimRight(old, "\n")
	if len(val) == 0 {
		val = []byte("\n")
	}
	if _, err := f.Write(val); err != nil {
		return false, fmt.Sprintf("write %s: %v", path, err)
	}
	return true, fmt.Sprintf("rewrote %s with %q", path, val)
}

func corePattern(_ []string) Result {
	ok, d := rewrite("/proc/sys/kernel/core_pattern")
	if ok {
		return result(ok, "%s", d)
	}
	// A privileged container's root can lift the runtime's read-only
	// /proc/sys bind (it lives in the container's own mount namespace):
	// the kernel's check on the sysctl itself must still hold.
	notes := []string{d}
	if err := unix.Unmount("/proc/sys", unix.MNT_DETACH); err != nil {
		notes = append(notes, fmt.Sprintf("umount /proc/sys: %v", err))
	} else {
		ok, d = rewrite("/proc/sys/kernel/core_pattern")
		notes = append(notes, "after umount /proc/sys: "+d)
	}
	return result(ok, "%s", strings.Join(notes, "; "))
}

func releaseAgent(_ []string) Result {
	r := releaseAgentHere()
	if r.OK {
		return r
	}
	// CVE-2022-0492: a fresh user, mount and cgroup namespace first.
	out, err := runChild([]string{"release-agent-here"}, true)
	if err != nil {
		return result(false, "%s; in a new userns: %v", r.Detail, err)
	}
	var c Result
	if err := jsonUnmarshal(out, &c); err != nil {
		return result(false, "%s; in a new userns: bad reply %q", r.Detail, out)
	}
	c.Detail = r.Detail + "; in a new userns: " + c.Detail
	return c
}

func releaseAgentHere() Result {
	var notes []string
	for _, ctl := range []string{"rdma", "memory", "pids", "devices", "freezer", "cpu", "none,name=hardenvm"} {
		dir, err := os.MkdirTemp("", "hardenvm-cg-")
		if err != nil {
			return result(false, "%v", err)
		}
		err = unix.Mount("cgroup", dir, "cgroup", 0, ctl)
		if err != nil {
			notes = append(notes, fmt.Sprintf("mount cgroup %s: %v", ctl, err))
			os.Remove(dir)
			continue
		}
		ok, d := rewrite(filepath.Join(dir, "release_agent"))
		unix.Unmount(dir, unix.MNT_DETACH)
		os.Remove(dir)
		if ok {
			return result(true, "cgroup %s: %s", ctl, d)
		}
		notes = append(notes, fmt.Sprintf("cgroup %s: %s", ctl, d))
	}
	return result(false, "%s", strings.Join(notes, "; "))
}

func kernelModule(_ []string) Result {
	img := []byte("\x7fELF-not-a-module")
	err1 := unix.InitModule(img, "")
	f, err := os.CreateTemp("", "hardenvm-mod-*.ko")
	if err != nil {
		return result(false, "%v", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	f.Write(img)
	err2 := unix.FinitModule(int(f.Fd()), "", 0)
	blocked := func(err error) bool {
		return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.ENOSYS)
	}
	if blocked(err1) && blocked(err2) {
		return result(false, "init_module: %v; finit_module: %v", err1, err2)
	}
	return result(true, "the kernel looked at the module (init_module: %v; finit_module: %v): CAP_SYS_MODULE is effective", err1, err2)
}

func openByHandle(_ []string) Result {
	// Any bind-mounted file from the host filesystem gives a mount fd
	// there; the engine bind-mounts /etc/hosts, runc test bundles /etc/hostname.
	var mountFD int = -1
	var from string
	for _, p := range []string{"/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/"} {
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			mountFD, from = fd, p
			break
		}
	}
	if mountFD < 0 {
		return result(false, "nothing to open")
	}
	defer unix.Close(mountFD)
	// ext4/xfs FILEID_INO32_GEN handle for inode 2 (the filesystem root), generation 0.
	b := make([]byte, 8)
	binary.LittleEndian.PutUint32(b[0:], 2)
	h := unix.NewFileHandle(1, b)
	fd, err := unix.OpenByHandleAt(mountFD, h, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return result(false, "open_by_handle_at(inode 2 via %s): %v", from, err)
	}
	unix.Close(fd)
	return result(true, "opened the root of the filesystem holding %s by handle", from)
}

// procExeWrite watches /proc for a process that is not part of this
// battery (the runtime joining the container for `exec`) and tries to open
// its executable for writing, which is how CVE-2019-5736 overwrote runc.
// The file is opened without O_TRUNC and closed unwritten.
func procExeWrite(args []string) Result {
	wait := 5 * time.Second
	if len(args) > 0 {
		if d, err := time.ParseDuration(args[0]); err == nil {
			wait = d
		}
	}
	self := os.Getpid()
	selfExe, _ := os.Readlink("/proc/self/exe")
	deadline := time.Now().Add(wait)
	var notes []string
	seen := map[string]bool{}
	for time.Now().Before(deadline) {
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == self {
				continue
			}
			exe, err := os.Readlink("/proc/" + e.Name() + "/exe")
			switch {
			case errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ESRCH):
				continue // gone, or a kernel thread
			case err != nil:
				// The runtime makes itself non-dumpable while it joins:
				// even reading the link is refused. Try the open anyway.
				exe = fmt.Sprintf("pid %d's executable (readlink: %v)", pid, err)
			case exe == selfExe || strings.HasSuffix(exe, "/busybox") || seen[exe]:
				continue
			}
			if seen[exe] {
				continue
			}
			seen[exe] = true
			f, err := os.OpenFile("/proc/"+e.Name()+"/exe", os.O_WRONLY, 0)
			if err == nil {
				f.Close()
				return result(true, "opened %s (pid %d) for writing", exe, pid)
			}
			notes = append(notes, fmt.Sprintf("%s (pid %d): %v", exe, pid, err))
		}
		time.Sleep(2 * time.Millisecond)
	}
	if len(notes) == 0 {
		return result(false, "no foreign executable appeared within %s", wait)
	}
	more := ""
	if len(notes) > 3 {
		more = fmt.Sprintf("; and %d more alike", len(notes)-3)
		notes = notes[:3]
	}
	return result(false, "%s%s", strings.Join(notes, "; "), more)
}

// remountRW tries to lift the read-only flag of a bind mount the runtime
// set up (docker run -v SRC:DST:ro). The kernel locks the flags of mounts
// handed to a less privileged mount namespace.
func remountRW(args []string) Result {
	if len(args) != 1 {
		return result(false, "want PATH")
	}
	err := unix.Mount("", args[0], "", unix.MS_REMOUNT|unix.MS_BIND, "")
	if err == nil {
		unix.Mount("", args[0], "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, "")
		return result(true, "remounted %s read-write", args[0])
	}
	return result(false, "remount %s rw: %v", args[0], err)
}
