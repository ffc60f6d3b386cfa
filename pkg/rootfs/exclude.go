package rootfs

import (
	"fmt"
	"path"

	"github.com/hardenvm/hardenvm/pkg/fstree"
)

// Excluded is what Exclude left out.
type Excluded struct {
	Names int   // names removed (a directory and what was below it count once each)
	Bytes int64 // regular file contents under them (hard links once per name)
}

// Exclude removes from t every path that an exclude glob matches, with
// everything below it, unless a keep glob matches the path or one of its
// parents (then the path stays whole), or it is a directory that keeps
// such a path below it. Globs are path.Match patterns against absolute
// paths, so "*" stays within one name: "/usr/share/doc/*/*" takes every
// package's documentation and leaves the directories, where
// "/usr/share/doc/*/copyright" keeps the license texts.
//
// This is dpkg's path-exclude/path-include, applied after unpacking so a
// hard link whose other name stays keeps its contents, and the result
// depends only on the tree and the globs. Callers validate the globs
// (imagespec does); a malformed one is an error here too.
func Exclude(t *fstree.Tree, exclude, keep []string) (Excluded, error) {
	for _, g := range append(exclude[:len(exclude):len(exclude)], keep...) {
		if _, err := path.Match(g, ""); err != nil {
			return Excluded{}, fmt.Errorf("rootfs: exclude/keep glob %q: %w", g, err)
		}
	}
	var x Excluded
	if len(exclude) == 0 {
		return x, nil
	}
	e := excluder{t: t, exclude: exclude, keep: keep, x: &x}
	_, err := e.prune("/", t.Root(), false)
	return x, err
}

type excluder struct {
	t             *fstree.Tree
	exclude, keep []string
	x             *Excluded
}

// prune removes what is excluded below dir p (node n) and says whether
// p itself stays. excluded is true when a parent of p matched an exclude
// glob.
func (e *excluder) prune(p string, n *fstree.Node, excluded bool) (bool, error) {
	if p != "/" {
		if matchAny(e.keep, p) {
			return true, nil
		}
		excluded = excluded || matchAny(e.exclude, p)
	}
	if n.Type != fstree.Dir {
		return !excluded, nil
	}
	stays := !excluded
	for _, name := range n.Names() {
		cp := path.Join(p, name)
		c := n.Child(name)
		keep, err := e.prune(cp, c, excluded)
		if err != nil {
			return false, err
		}
		if keep {
			stays = true
			continue
		}
		e.count(c)
		if err := e.t.RemoveAll(cp); err != nil {
			return false, fmt.Errorf("rootfs: leaving out %s: %w", cp, err)
		}
	}
	return stays, nil
}

func (e *excluder) count(n *fstree.Node) {
	e.x.Names++
	if n.Type == fstree.Regular {
		e.x.Bytes += n.Size()
	}
	for _, name := range n.Names() {
		e.count(n.Child(name))
	}
}

func matchAny(globs []string, p string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, p); ok {
			return true
		}
	}
	return false
}
