package mountguard

import (
	"golang.org/x/sys/unix"
)

// moveMountBeneath (Linux 6.5) is not in x/sys/unix yet.
const moveMountBeneath = 0x200

const moveMountFlags = unix.MOVE_MOUNT_F_SYMLINKS | unix.MOVE_MOUNT_F_AUTOMOUNTS | unix.MOVE_MOUNT_F_EMPTY_PATH |
	unix.MOVE_MOUNT_T_SYMLINKS | unix.MOVE_MOUNT_T_AUTOMOUNTS | unix.MOVE_MOUNT_T_EMPTY_PATH |
	unix.MOVE_MOUNT_SET_GROUP | moveMountBeneath

// moveMount performs move_mount(2) for the caller unless it would move a
// guarded mount away or cover one: the same rules as mount(2) with
// MS_MOVE, for an attached source, and as a new mount, for a detached one
// (what fsmount and open_tree with OPEN_TREE_CLONE return). Both ends are
// opened once, the decision is made on the mounts those descriptors are
// on, and the move is made on the same descriptors.
func (g *guard) moveMount(c *caller, fromDfd int32, from string, toDfd int32, to string, flags uint64) verdict {
	if flags&^moveMountFlags != 0 {
		return verdict{errno: unix.EINVAL}
	}
	if v, ok := g.permitted(c); !ok {
		return v
	}
	return g.inCaller(c, "move_mount to "+to, func(proc int) (verdict, error) {
		src, err := openAt(c, proc, fromDfd, from, flags&unix.MOVE_MOUNT_F_EMPTY_PATH != 0, flags&unix.MOVE_MOUNT_F_SYMLINKS != 0)
		if err != nil {
			return verdict{errno: errnoOf(err)}, nil
		}
		defer src.close()
		dst, t, err := c.at(proc, toDfd, to, flags&unix.MOVE_MOUNT_T_EMPTY_PATH != 0, flags&unix.MOVE_MOUNT_T_SYMLINKS != 0)
		if err != nil {
			return failed(err)
		}
		defer dst.close()
		if why, kept := g.keptInPlace(t, src.mnt); kept && flags&unix.MOVE_MOUNT_SET_GROUP == 0 {
			return refuse("move_mount of %s: %s", src.path, why), nil
		}
		switch {
		case flags&unix.MOVE_MOUNT_SET_GROUP != 0:
			// Only the target's propagation changes, as mount(2)
			// allows with MS_SHARED and the like.
		case flags&moveMountBeneath != 0:
			// Beneath the top mount at the target: that mount would
			// get a new parent, and copies are known by their place.
			if why, kept := g.keptInPlace(t, dst.mnt); kept {
				return refuse("move_mount beneath %s: %s", dst.path, why), nil
			}
		default:
			if m, ok := g.covers(c, t, dst.path); ok {
				return refuse("move_mount onto %s would cover %s", dst.path, m.Point), nil
			}
		}
		keep := flags & (unix.MOVE_MOUNT_SET_GROUP | moveMountBeneath)
		return verdict{errno: errnoOf0(unix.MoveMount(src.fd, "", dst.fd, "",
			int(keep|unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)))}, nil
	})
}

const setattrFlags = unix.AT_EMPTY_PATH | unix.AT_RECURSIVE | unix.AT_SYMLINK_NOFOLLOW | unix.AT_NO_AUTOMOUNT

// loosened are the mount attributes whose clearing loosens a mount.
var loosened = []struct {
	attr uint64
	opt  string
}{
	{unix.MOUNT_ATTR_RDONLY, "ro"},
	{unix.MOUNT_ATTR_NOSUID, "nosuid"},
	{unix.MOUNT_ATTR_NODEV, "nodev"},
	{unix.MOUNT_ATTR_NOEXEC, "noexec"},
	{unix.MOUNT_ATTR_NOSYMFOLLOW, "nosymfollow"},
}

// loosens returns the option of m that clearing clr would take away.
func loosens(m Mount, clr uint64) (string, bool) {
	for _, l := range loosened {
		if clr&l.attr != 0 && m.Has(l.opt) {
			return l.opt, true
		}
	}
	return "", false
}

// setattr answers mount_setattr(2). With MOUNT_ATTR_IDMAP it continues:
// the kernel sets an ID mapping only on a detached mount that was never
// attached (and checks every mount of a recursive call before changing
// any), so the call cannot touch a mount of the container's tree, and
// it needs the caller's own credentials over the file system. Otherwise
// the supervisor performs it on the descriptor it decided on, unless it
// would clear ro, nosuid, nodev, noexec or nosymfollow on a guarded mount
// (with AT_RECURSIVE, on any mount of the tree). Propagation changes are
// allowed, as mount(2) allows them.
func (g *guard) setattr(c *caller, dfd int32, p string, flags uint64, attr unix.MountAttr) verdict {
	if flags&^setattrFlags != 0 {
		return verdict{errno: unix.EINVAL}
	}
	if attr.Attr_set&unix.MOUNT_ATTR_IDMAP != 0 {
		return proceed
	}
	if v, ok := g.permitted(c); !ok {
		return v
	}
	return g.inCaller(c, "mount_setattr of "+p, func(proc int) (verdict, error) {
		o, t, err := c.at(proc, dfd, p, flags&unix.AT_EMPTY_PATH != 0, flags&unix.AT_SYMLINK_NOFOLLOW == 0)
		if err != nil {
			return failed(err)
		}
		defer o.close()
		tree := []int{o.mnt}
		if flags&unix.AT_RECURSIVE != 0 {
			tree = t.Below(o.mnt)
		}
		for _, id := range tree {
			why, kept := g.keptInPlace(t, id)
			if !kept {
				continue
			}
			if opt, ok := loosens(t.ByID[id], attr.Attr_clr); ok {
				return refuse("mount_setattr clearing %s on %s: %s", opt, t.ByID[id].Point, why), nil
			}
		}
		return verdict{errno: errnoOf0(unix.MountSetattr(o.fd, "", uint(unix.AT_EMPTY_PATH|flags&unix.AT_RECURSIVE), &attr))}, nil
	})
}

// openTree answers open_tree(2) with OPEN_TREE_CLONE and without
// AT_RECURSIVE (the other calls continue at once: without a clone it
// opens an attached mount, which only the trapped calls can change; a
// recursive clone copies the masks too): as a non-recursive bind with
// mount(2), the copy may not show what a guarded mount below the path
// hides. It continues: the kernel makes the copy in the caller's name. A
// racing thread can swap the path; the copy it gets then shows no more
// than a fresh procfs or sysfs mount, which fsopen makes (see the package
// comment).
func (g *guard) openTree(c *caller, dfd int32, p string, flags uint64) verdict {
	return g.inCaller(c, "open_tree of "+p, func(proc int) (verdict, error) {
		o, t, err := c.at(proc, dfd, p, flags&unix.AT_EMPTY_PATH != 0, flags&unix.AT_SYMLINK_NOFOLLOW == 0)
		if err != nil {
			_, err = failed(err)
			return proceed, err // the kernel fails the call with its own error
		}
		defer o.close()
		if m, hides := g.prot.Hides(t, o.mnt, o.path); hides {
			return refuse("a non-recursive open_tree clone of %s would show what %s hides", o.path, m.Point), nil
		}
		return proceed, nil
	})
}

// keptInPlace reports whether mount id of t is kept in place, and why.
func (g *guard) keptInPlace(t Table, id int) (string, bool) {
	m, ok := t.ByID[id]
	if !ok {
		return "", false // detached, or not the caller's
	}
	return g.prot.Guards(t, m)
}
