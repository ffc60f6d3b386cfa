package shim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/hardenvm/hardenvm/pkg/mountinfo"
	"golang.org/x/sys/unix"
)

// An ID-mapped overlay rootfs. overlayfs cannot itself be ID-mapped
// (it does not allow MOUNT_ATTR_IDMAP on its mounts), but since Linux
// 5.19 its layers can be. So for a rootfs that is the engine's overlay
// mount, the shim builds a second overlay over the same layers, as
// Sysbox does: every lower layer and the directory holding the upper
// layer are ID-mapped clones, with a work directory of its own. Files
// keep their on-disk owners (0 on disk is the container's root), so a
// file the engine writes into the container (docker cp, as the VM's
// root) shows as root's inside, and the image's layers stay untouched
// and shared.

// overlayMount is an overlay's layers, from its mountinfo super options.
type overlayMount struct {
	lower        []string
	upper, work  string
	otherOptions []string // passed on: index=off, userxattr, …
}

// findOverlay returns the overlay mounted at dir, from a mountinfo
// listing; ok is false when dir is not an overlay's mount point.
func findOverlay(r io.Reader, dir string) (o overlayMount, ok bool, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var found string
	for sc.Scan() {
		// ID parent major:minor root mountpoint options [optional…] - fstype source super-options
		f := strings.Fields(sc.Text())
		sep := slices.Index(f, "-")
		if sep < 5 || sep+3 >= len(f) || mountinfo.Unescape(f[4]) != dir {
			continue
		}
		// The last mount at dir is the one a lookup sees.
		found = ""
		if f[sep+1] == "overlay" {
			found = f[sep+3]
		}
	}
	if err := sc.Err(); err != nil {
		return o, false, err
	}
	if found == "" {
		return o, false, nil
	}
	for _, opt := range strings.Split(found, ",") {
		k, v, _ := strings.Cut(opt, "=")
		v = mountinfo.Unescape(v)
		switch k {
		case "rw", "ro":
		case "lowerdir":
			o.lower = strings.Split(v, ":")
		case "upperdir":
			o.upper = v
		case "workdir":
			o.work = v
		default:
			o.otherOptions = append(o.otherOptions, opt)
		}
	}
	if len(o.lower) == 0 || o.upper == "" || o.work == "" {
		return o, false, fmt.Errorf("overlay at %s: want lowerdir, upperdir and workdir in %q", dir, found)
	}
	return o, true, nil
}

// WorkDirName is the shim's own overlay work directory, made beside the
// engine's upper layer (so the engine removes it with the container's
// layer) and never shared with the engine's own overlay mount.
const WorkDirName = "hardenvm-work"

// idmapOverlay mounts at dst an overlay of o's layers, each ID-mapped
// through userns, read-only when ro. scratch is a directory for the
// layers' temporary mount points (detached again before returning: the
// overlay holds its own references).
//
// The upper layer's clone maps the VM's root too (usernsFD withHostRoot):
// overlayfs makes its work files and copy-ups with the mounter's
// credentials, which a plain container mapping cannot name.
func idmapOverlay(o overlayMount, dst, scratch string, userns int, base, size uint32, ro bool) error {
	upper, err := filepath.EvalSymlinks(o.upper)
	if err != nil {
		return err
	}
	holder := filepath.Dir(upper)
	work := filepath.Join(holder, WorkDirName)
	os.RemoveAll(work) // a work directory left by an earlier create
	if err := os.Mkdir(work, 0o700); err != nil {
		return fmt.Errorf("overlay work directory: %w", err)
	}
	var points []string
	defer func() {
		for _, p := range points {
			unix.Unmount(p, unix.MNT_DETACH)
			os.Remove(p)
		}
	}()
	upNS, err := usernsFD(base, size, true)
	if err != nil {
		return err
	}
	defer unix.Close(upNS)
	up := filepath.Join(scratch, "upper")
	if err := clone(holder, up, false, upNS, false); err != nil {
		return err
	}
	points = append(points, up)
	var lowers []string
	for i, l := range o.lower {
		r, err := filepath.EvalSymlinks(l)
		if err != nil {
			return fmt.Errorf("overlay lower layer %s: %w", l, err)
		}
		p := filepath.Join(scratch, "l"+strconv.Itoa(i))
		if err := clone(r, p, false, userns, true); err != nil {
			return err
		}
		points = append(points, p)
		lowers = append(lowers, p)
	}
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("fsopen overlay: %w", err)
	}
	defer unix.Close(fd)
	set := func(k, v string) error {
		if err := unix.FsconfigSetString(fd, k, v); err != nil {
			return fmt.Errorf("overlay option %s=%s: %w", k, v, err)
		}
		return nil
	}
	// One lower layer at a time (Linux ≥6.8): no limit on their count.
	for _, l := range lowers {
		if err := set("lowerdir+", l); err != nil {
			return err
		}
	}
	if err := errors.Join(set("upperdir", filepath.Join(up, filepath.Base(upper))), set("workdir", filepath.Join(up, WorkDirName))); err != nil {
		return err
	}
	for _, opt := range o.otherOptions {
		k, v, hasV := strings.Cut(opt, "=")
		if !hasV {
			if err := unix.FsconfigSetFlag(fd, k); err != nil {
				return fmt.Errorf("overlay option %s: %w", k, err)
			}
			continue
		}
		if err := set(k, v); err != nil {
			return err
		}
	}
	if err := unix.FsconfigCreate(fd); err != nil {
		return fmt.Errorf("creating the ID-mapped overlay: %w", err)
	}
	attr := 0
	if ro {
		attr = unix.MOUNT_ATTR_RDONLY
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, attr)
	if err != nil {
		return fmt.Errorf("fsmount overlay: %w", err)
	}
	defer unix.Close(mfd)
	if err := os.Mkdir(dst, 0o711); err != nil {
		return err
	}
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, dst, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		os.Remove(dst)
		return fmt.Errorf("move_mount %s: %w", dst, err)
	}
	if err := unix.Mount("", dst, "", unix.MS_PRIVATE, ""); err != nil {
		unix.Unmount(dst, unix.MNT_DETACH)
		os.Remove(dst)
		return fmt.Errorf("making %s private: %w", dst, err)
	}
	return nil
}
