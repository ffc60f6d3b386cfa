// Package fstreetest builds fstree.Trees from fuzz input, so that fuzz
// tests of the tree and of its writers explore the same shapes: every
// sequence of bytes is a sequence of mutations on a small set of names
// (so that they collide, nest, link and loop).
package fstreetest

import (
	"time"

	"github.com/hardenvm/hardenvm/pkg/fstree"
)

var names = []string{"a", "b", "usr", "bin", "..", ".", "x/y", "/", "lib64", "-", "a/b/c"}

var targets = []string{"a", "../a", "/usr", "b/../a", ".", "..", "/", "x/y/z", "usr/bin"}

// FromOps applies the mutations data encodes to a merged-/usr tree and
// returns it. Mutations that the tree refuses are skipped: the point is
// that none of them panics or leaves the tree inconsistent.
func FromOps(data []byte) *fstree.Tree {
	t := fstree.New()
	t.MergeUsr(fstree.Header{Mtime: time.Unix(1, 0)})
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return int(b)
	}
	path := func() string {
		p := names[next()%len(names)]
		for next()%3 == 1 {
			p += "/" + names[next()%len(names)]
		}
		return p
	}
	for len(data) > 0 {
		op := next() % 10
		p := path()
		h := fstree.Header{Mode: uint32(next()) << 4 & fstree.ModePerm, UID: uint32(next()) << 12, GID: uint32(next()), Mtime: time.Unix(int64(next())<<20, 0)}
		switch op {
		case 0:
			t.MkdirAll(p, h)
		case 1:
			t.WriteFile(p, h, fstree.Bytes(make([]byte, next()*next()*3)))
		case 2:
			t.Symlink(targets[next()%len(targets)], p, h)
		case 3:
			t.Link(p, path())
		case 4:
			t.Remove(p)
		case 5:
			t.RemoveAll(p)
		case 6:
			t.Chown(p, uint32(next())<<16, uint32(next()))
		case 7:
			t.SetXattr(p, []string{"user.a", "trusted.b", "security.capability"}[next()%3], make([]byte, next()*4))
		case 8:
			t.Mknod(p, []fstree.Type{fstree.CharDevice, fstree.BlockDevice, fstree.FIFO}[next()%3], h, uint32(next()), uint32(next())<<8)
		case 9:
			t.Chmod(p, uint32(next())<<4&fstree.ModePerm)
		}
	}
	return t
}
