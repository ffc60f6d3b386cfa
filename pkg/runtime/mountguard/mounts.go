package mountguard

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/hardenvm/hardenvm/pkg/mountinfo"
)

// Mount is one line of /proc/PID/mountinfo (proc(5)): the fields the
// guard decides on.
type Mount struct {
	ID, Parent int
	Dev        string // major:minor of the file system
	Root       string // the mount's root inside its file system
	Point      string // mount point, relative to the process's root
	Opts       string // per-mount options ("rw,nosuid,…")
	Shared     int    // its peer group ("shared:N"), 0 if not shared
	FSType     string
}

// ReadOnly reports whether the mount itself is read-only.
func (m Mount) ReadOnly() bool { return m.Has("ro") }

// Has reports whether the mount has the per-mount option opt ("nosuid").
func (m Mount) Has(opt string) bool {
	return slices.Contains(strings.Split(m.Opts, ","), opt)
}

// Table is a mount namespace's mounts as one process sees them.
type Table struct {
	ByID map[int]Mount
}

// ParseMountinfo reads a mountinfo file.
func ParseMountinfo(r io.Reader) (Table, error) {
	t := Table{ByID: map[int]Mount{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 7 || sep < 0 || sep+1 >= len(f) {
			return Table{}, fmt.Errorf("mountinfo line %d: %d fields, no separator", n, len(f))
		}
		id, err1 := strconv.Atoi(f[0])
		parent, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			return Table{}, fmt.Errorf("mountinfo line %d: mount IDs %q %q", n, f[0], f[1])
		}
		m := Mount{
			ID: id, Parent: parent, Dev: f[2],
			Root:   mountinfo.Unescape(f[3]),
			Point:  mountinfo.Unescape(f[4]),
			Opts:   f[5],
			FSType: f[sep+1],
		}
		for _, opt := range f[6:sep] {
			if g, ok := strings.CutPrefix(opt, "shared:"); ok {
				m.Shared, _ = strconv.Atoi(g)
			}
		}
		t.ByID[id] = m
	}
	if err := sc.Err(); err != nil {
		return Table{}, fmt.Errorf("reading mountinfo: %w", err)
	}
	return t, nil
}

// Below returns id and the IDs of every mount under it in t: the tree a
// recursive operation on id acts on.
func (t Table) Below(id int) []int {
	tree := []int{id}
	for i := 0; i < len(tree); i++ {
		for _, m := range t.ByID {
			if m.Parent == tree[i] && m.ID != tree[i] {
				tree = append(tree, m.ID)
			}
		}
	}
	return tree
}

// Place is where a mount is mounted, named by the file system it covers:
// the parent mount's device and the path inside that file system. Copies
// of a mount (a new mount namespace, a recursive bind) have new IDs but
// the same place, and removing any of them shows the same file.
type Place struct {
	Dev, Path, FSType string
}

// PlaceOf returns the place m covers; ok is false for the namespace's
// root mount (its parent is not in the table).
func (t Table) PlaceOf(m Mount) (Place, bool) {
	p, ok := t.ByID[m.Parent]
	if !ok || p.ID == m.ID {
		return Place{}, false
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(m.Point, p.Point), "/")
	if p.Point != "/" && m.Point != p.Point && !strings.HasPrefix(m.Point, p.Point+"/") {
		return Place{}, false
	}
	return Place{Dev: p.Dev, Path: path.Join(p.Root, rel), FSType: p.FSType}, true
}

// Protected is what the guard keeps in place: the container's initial
// mounts by ID, and the places on procfs and sysfs they cover.
type Protected struct {
	IDs    map[int]bool
	Places map[Place]bool
}

// procLike are the file systems whose hidden files matter: the masks and
// read-only paths sit on them.
var procLike = map[string]bool{"proc": true, "sysfs": true}

// Snapshot records the initial mounts of a container.
func Snapshot(t Table) Protected {
	p := Protected{IDs: map[int]bool{}, Places: map[Place]bool{}}
	for id, m := range t.ByID {
		p.IDs[id] = true
		if pl, ok := t.PlaceOf(m); ok && procLike[pl.FSType] {
			p.Places[pl] = true
		}
	}
	return p
}

// Guards reports whether m, a mount of table t, is kept in place, and why.
func (p Protected) Guards(t Table, m Mount) (string, bool) {
	if p.IDs[m.ID] {
		return "an initial mount of the container", true
	}
	if pl, ok := t.PlaceOf(m); ok && p.Places[pl] {
		return "a copy of a mask or read-only path on " + pl.FSType, true
	}
	return "", false
}

// Covers returns a guarded mount at dir or below it in t: a new mount on
// dir would hide it.
func (p Protected) Covers(t Table, dir string) (Mount, bool) {
	dir = path.Clean(dir)
	for _, m := range t.ByID {
		if m.Point != dir && !strings.HasPrefix(m.Point, strings.TrimSuffix(dir, "/")+"/") {
			continue
		}
		if pl, ok := t.PlaceOf(m); ok && p.Places[pl] {
			return m, true
		}
	}
	return Mount{}, false
}

// Hides returns a guarded mount strictly below dir that hides part of
// the file system of mnt, the mount dir is on: a non-recursive bind of dir
// copies no mount below it and would show what the guarded one hides.
func (p Protected) Hides(t Table, mnt int, dir string) (Mount, bool) {
	dir = path.Clean(dir)
	at, ok := t.ByID[mnt]
	if !ok {
		return Mount{}, false
	}
	for _, m := range t.ByID {
		if !strings.HasPrefix(m.Point, strings.TrimSuffix(dir, "/")+"/") {
			continue
		}
		if pl, ok := t.PlaceOf(m); ok && p.Places[pl] && pl.Dev == at.Dev {
			return m, true
		}
	}
	return Mount{}, false
}

// spread is a place under a shared parent: an umount there propagates to
// the mounts at the same place under the parent's peers
// (propagate_umount in fs/pnode.c).
type spread struct {
	group int
	place Place
}

// spreadOf returns where m sits as umount propagation sees it.
func (t Table) spreadOf(m Mount) (spread, bool) {
	parent, ok := t.ByID[m.Parent]
	if !ok || parent.Shared == 0 {
		return spread{}, false
	}
	pl, ok := t.PlaceOf(m)
	return spread{parent.Shared, pl}, ok
}

// Spreads returns where the guarded mounts of own, the container's own
// mount namespace, would be taken away by an umount propagated from a
// peer of their parents.
func (p Protected) Spreads(own Table) map[spread]bool {
	at := map[spread]bool{}
	for _, m := range own.ByID {
		if _, kept := p.Guards(own, m); kept {
			if s, ok := own.spreadOf(m); ok {
				at[s] = true
			}
		}
	}
	return at
}

// Propagates returns a mount among ids whose umount would propagate to
// one of the places in at.
func (t Table) Propagates(ids []int, at map[spread]bool) (Mount, bool) {
	for _, id := range ids {
		if s, ok := t.spreadOf(t.ByID[id]); ok && at[s] {
			return t.ByID[id], true
		}
	}
	return Mount{}, false
}
