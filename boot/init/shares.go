package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/pkg/adminsettings"
	"golang.org/x/sys/unix"
)

// File sharing: hardenvm run shares host directories through virtiofs and
// lists them (tag → host path) in a fw_cfg item; stage 2 mounts each at its
// host path, nosuid,nodev, before the engine starts, so that `docker run
// -v /home/me/src:/src` finds the same path in the VM. The list comes from
// the host, which the admin policy does not trust: a share is mounted only
// where the verified admin settings allow it (filesharingAllowedDirectories)
// and never over or under a VM system path, where it could replace the
// engine, its runtime or their configuration.

// systemDirs are the VM's own trees: no share is mounted in them.
var systemDirs = []string{
	"/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32",
	"/proc", "/root", "/run", "/sbin", "/sys", "/usr", "/var",
}

// shareOverlays holds the writable upper layers of directories of the
// read-only root that shares needed mount points in.
const shareOverlays = "/run/hardenvm/share-overlays"

// shareMounts are the mounts mountShares made, for the shutdown.
var shareMounts []string

// mountShares mounts the shares the host lists, if any, and writes the
// list of those mounted to bootparams.SharesState for the runtime. A share
// that is refused or fails is skipped with a line on the console; the
// others are mounted.
func mountShares() error {
	b, err := os.ReadFile(bootparams.SharesFWCfgFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	list, err := bootparams.ParseShares(b)
	if err != nil {
		return err
	}
	settings, err := shareSettings()
	if err != nil {
		return err
	}
	h := adminsettings.HostDirs{Home: list.Host.Home, Temp: list.Host.Temp}
	mounted := bootparams.Shares{Shares: []bootparams.Share{}}
	for _, s := range list.Shares {
		if err := checkShare(s.Path, settings, h); err != nil {
			say("share %s refused: %v", s.Path, err)
			continue
		}
		if err := mountShare(s); err != nil {
			say("share %s: %v", s.Path, err)
			continue
		}
		say("host directory %s shared (virtiofs %s, nosuid,nodev)", s.Path, s.Tag)
		mounted.Shares = append(mounted.Shares, s)
	}
	out, err := json.Marshal(mounted)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(bootparams.SharesState), 0o755); err != nil {
		return err
	}
	return os.WriteFile(bootparams.SharesState, append(out, '\n'), 0o644)
}

// shareSettings are the verified admin settings (the defaults without a
// config partition).
func shareSettings() (adminsettings.Settings, error) {
	b, err := os.ReadFile(adminsettings.InConfig(adminsettings.SettingsFile))
	if errors.Is(err, os.ErrNotExist) {
		return adminsettings.Default(), nil
	}
	if err != nil {
		return adminsettings.Settings{}, err
	}
	return adminsettings.Parse(b)
}

// checkShare refuses a share path the settings do not allow or that lies
// in the VM's system trees.
func checkShare(p string, s adminsettings.Settings, h adminsettings.HostDirs) error {
	if !s.ShareAllowed(p, h) {
		return fmt.Errorf("not allowed by the admin policy (%s)", adminsettings.KeyFileSharing)
	}
	for _, d := range systemDirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return fmt.Errorf("%s is the VM's own", d)
		}
	}
	return nil
}

// mountShare makes the mount point and mounts the share there. Missing
// directories are made where the parent is writable (/tmp, a tmpfs); in a
// directory of the read-only root (/home) they are made in a tmpfs overlay
// over that directory, which keeps its contents; at the top of the root
// there is no way to make one.
func mountShare(s bootparams.Share) error {
	anc := s.Path
	for {
		if _, err := os.Lstat(anc); err == nil {
			break
		}
		anc = filepath.Dir(anc)
	}
	// No symlink of the VM may redirect the mount point elsewhere.
	if real, err := filepath.EvalSymlinks(anc); err != nil || real != anc {
		return fmt.Errorf("%s is a symlink in the VM (to %s): not mounted", anc, real)
	}
	err := os.MkdirAll(s.Path, 0o755)
	if errors.Is(err, unix.EROFS) {
		if anc == "/" {
			return fmt.Errorf("the VM's read-only root has no %s for a mount point", "/"+strings.Split(s.Path, "/")[1])
		}
		if err := overlayDir(anc); err != nil {
			return err
		}
		err = os.MkdirAll(s.Path, 0o755)
	}
	if err != nil {
		return fmt.Errorf("mount point: %w", err)
	}
	if err := unix.Mount(s.Tag, s.Path, "virtiofs", unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		return fmt.Errorf("mounting virtiofs %s: %w", s.Tag, err)
	}
	shareMounts = append(shareMounts, s.Path)
	return nil
}

// overlayDir puts a writable tmpfs layer (under /run) over dir.
func overlayDir(dir string) error {
	n := len(shareMounts)
	base := filepath.Join(shareOverlays, fmt.Sprint(n))
	upper, work := filepath.Join(base, "upper"), filepath.Join(base, "work")
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	opts := "lowerdir=" + dir + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", dir, "overlay", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("making %s writable for a mount point (overlay): %w", dir, err)
	}
	shareMounts = append(shareMounts, dir)
	return nil
}

// unmountShares unmounts the shares (and overlays), newest first; the
// host's files are the host's, so a busy one is detached.
func unmountShares() {
	for i := len(shareMounts) - 1; i >= 0; i-- {
		if err := unix.Unmount(shareMounts[i], 0); err != nil {
			unix.Unmount(shareMounts[i], unix.MNT_DETACH)
		}
	}
	shareMounts = nil
}
