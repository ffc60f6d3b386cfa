package fstree

import "fmt"

// MergedUsrDirs are the top-level directories that Debian trixie (amd64)
// ships as symlinks into /usr: /bin -> usr/bin, /sbin -> usr/sbin,
// /lib -> usr/lib, /lib64 -> usr/lib64. debootstrap makes these before any
// package is unpacked; with them in place a .deb's ./bin/busybox lands in
// /usr/bin/busybox because Add follows intermediate symlinks.
var MergedUsrDirs = []string{"bin", "sbin", "lib", "lib64"}

// MergeUsr lays out merged /usr in t: each of MergedUsrDirs becomes a
// directory under /usr (owned by root, mode 0755, mtime from h) and a
// relative symlink to it at the top. It fails if one of the top-level names
// already exists as something other than that symlink, because moving
// files after the fact is what Debian's usrmerge package does and it is not
// our job: call MergeUsr on an empty tree.
func (t *Tree) MergeUsr(h Header) error {
	h.Mode = 0o755
	for _, d := range MergedUsrDirs {
		if _, err := t.MkdirAll("usr/"+d, h); err != nil {
			return err
		}
		want := "usr/" + d
		if old, err := t.Lookup(d); err == nil {
			if old.Type == Symlink && old.Target == want {
				continue
			}
			return fmt.Errorf("fstree: merged /usr: /%s already exists as a %s", d, old.Type)
		}
		if err := t.Symlink(want, d, h); err != nil {
			return err
		}
	}
	return nil
}
