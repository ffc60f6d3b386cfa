package main

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// switchRoot makes newRoot the root: it moves /dev, /proc and /sys into
// it, frees the initramfs (its files would otherwise stay in memory), and
// moves newRoot onto / and chroots there, as util-linux switch_root does.
func switchRoot(newRoot string) error {
	for _, m := range []string{"/dev", "/proc", "/sys"} {
		target := newRoot + m
		if st, err := os.Stat(target); err != nil || !st.IsDir() {
			return fmt.Errorf("the verified root has no %s directory to move %s to", m, m)
		}
		if err := unix.Mount(m, target, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("moving %s into the root: %w", m, err)
		}
	}
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		return err
	}
	removeTree("/", st.Dev, newRoot)
	if err := unix.Chdir(newRoot); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("moving the root onto /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot into the root: %w", err)
	}
	return unix.Chdir("/")
}

// removeTree deletes what lies under dir on device dev (the initramfs),
// never crossing into another file system and skipping keep.
func removeTree(dir string, dev uint64, keep string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		if p == keep {
			continue
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil || st.Dev != dev {
			continue
		}
		if e.IsDir() {
			removeTree(p, dev, keep)
			unix.Rmdir(p)
		} else {
			unix.Unlink(p)
		}
	}
}
