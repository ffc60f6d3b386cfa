package shim

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A read-only rootfs is made read-only on the VM's side (so that the
// kernel locks the flag for the container), which leaves runc unable to
// make the mount points that the image lacks (a volume at /data, the
// engine's /sbin/docker-init). The shim makes them first, in the
// engine's rootfs, resolving every path inside it (openat2
// RESOLVE_IN_ROOT: the image's symlinks cannot lead out).

// makeMountPoints creates, under root, the destination of every mount of
// spec that is not itself inside an earlier mount: a directory, or an
// empty file for a bind mount of a file.
func makeMountPoints(root string, spec *specs.Spec) error {
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("rootfs %s: %w", root, err)
	}
	defer unix.Close(rootFD)
	var dests []string
	for _, m := range spec.Mounts {
		d := filepath.Clean("/" + m.Destination)
		inner := false
		for _, p := range dests {
			if under(d, p) {
				inner = true
				break
			}
		}
		dests = append(dests, d)
		if inner || d == "/" {
			continue
		}
		file := false
		if isBind(&m) {
			if fi, err := os.Stat(m.Source); err == nil && !fi.IsDir() {
				file = true
			}
		}
		// A path that cannot be made inside (a symlink to a missing
		// target) is left to runc, which then says why it cannot mount.
		mkdirInRoot(rootFD, strings.TrimPrefix(d, "/"), file)
	}
	return nil
}

func under(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}

// mkdirInRoot makes the relative path rel under the directory rootFD, each
// component resolved inside it; the last one a file when file is set.
// Components that exist are left alone.
func mkdirInRoot(rootFD int, rel string, file bool) error {
	parts := strings.Split(rel, "/")
	how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV}
	for i, name := range parts {
		p := strings.Join(parts[:i+1], "/")
		fd, err := unix.Openat2(rootFD, p, how)
		if err == nil {
			unix.Close(fd)
			continue
		}
		if !errors.Is(err, unix.ENOENT) {
			return err
		}
		dirHow := *how
		dirHow.Flags |= unix.O_DIRECTORY
		parent, err := unix.Openat2(rootFD, "."+"/"+strings.Join(parts[:i], "/"), &dirHow)
		if err != nil {
			return err
		}
		// O_PATH fds cannot be used to create; reopen the directory.
		dfd, err := unix.Openat(parent, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(parent)
		if err != nil {
			return err
		}
		if i == len(parts)-1 && file {
			var f int
			f, err = unix.Openat(dfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
			if err == nil {
				unix.Close(f)
			}
		} else {
			err = unix.Mkdirat(dfd, name, 0o755)
		}
		unix.Close(dfd)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
	}
	return nil
}
