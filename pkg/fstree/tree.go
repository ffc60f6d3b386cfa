package fstree

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// Errors callers can test with errors.Is.
var (
	ErrNotExist = fs.ErrNotExist
	ErrExist    = fs.ErrExist
	ErrNotDir   = errors.New("not a directory")
	ErrIsDir    = errors.New("is a directory")
	ErrNotEmpty = errors.New("directory not empty")
	ErrLoop     = errors.New("too many levels of symbolic links")
	ErrBadPath  = errors.New("invalid path")
)

// maxHops bounds symlink expansion during one lookup, like the kernel's 40.
const maxHops = 40

// Tree is a filesystem tree rooted at a directory. The zero value is not
// usable: call New.
type Tree struct {
	root *Node
}

// New returns a tree holding only its root directory (mode 0755, root:root,
// mtime zero).
func New() *Tree {
	return &Tree{root: &Node{Type: Dir, Mode: 0o755, children: map[string]*Node{}}}
}

// Root returns the root directory node; its metadata may be changed freely.
func (t *Tree) Root() *Node { return t.root }

// PathError records an operation and the tree path it failed on.
type PathError struct {
	Op   string
	Path string
	Err  error
}

func (e *PathError) Error() string {
	return "fstree: " + e.Op + " /" + strings.TrimLeft(e.Path, "/") + ": " + e.Err.Error()
}
func (e *PathError) Unwrap() error { return e.Err }

// clean turns a user path into its components, refusing "..", NUL bytes and
// over-long names so that nothing can point outside the tree or be
// unrepresentable on disk.
func clean(p string) ([]string, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return nil, ErrBadPath
	}
	var out []string
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			return nil, fmt.Errorf("%w: \"..\" component", ErrBadPath)
		}
		if len(c) > 255 {
			return nil, fmt.Errorf("%w: name longer than 255 bytes", ErrBadPath)
		}
		out = append(out, c)
	}
	return out, nil
}

// resolve walks to the parent directory of p's last component, following
// symlinks in every earlier component. With mkdir set, missing directories
// are created with header h. It returns the parent and the last name ("" for
// the root itself).
func (t *Tree) resolve(p string, mkdir bool, h Header) (*Node, string, error) {
	comps, err := clean(p)
	if err != nil {
		return nil, "", err
	}
	if len(comps) == 0 {
		return nil, "", nil
	}
	stack := []*Node{t.root}
	hops := 0
	for len(comps) > 1 {
		c := comps[0]
		comps = comps[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		dir := stack[len(stack)-1]
		child := dir.children[c]
		if child == nil {
			if !mkdir {
				return nil, "", ErrNotExist
			}
			child = h.node(Dir)
			child.children = map[string]*Node{}
			dir.children[c] = child
		}
		switch child.Type {
		case Dir:
			stack = append(stack, child)
		case Symlink:
			if hops++; hops > maxHops {
				return nil, "", ErrLoop
			}
			if strings.HasPrefix(child.Target, "/") {
				stack = stack[:1]
			}
			comps = append(strings.Split(child.Target, "/"), comps...)
		default:
			return nil, "", ErrNotDir
		}
	}
	last := comps[0]
	if last == "." || last == ".." || last == "" {
		// Only reachable through a symlink target ending in "." or "..".
		return nil, "", fmt.Errorf("%w: path ends in a symlink to %q", ErrBadPath, last)
	}
	return stack[len(stack)-1], last, nil
}

// Lookup returns the node at p without following a final symlink.
func (t *Tree) Lookup(p string) (*Node, error) {
	dir, name, err := t.resolve(p, false, Header{})
	if err != nil {
		return nil, &PathError{"lookup", p, err}
	}
	if dir == nil {
		return t.root, nil
	}
	n := dir.children[name]
	if n == nil {
		return nil, &PathError{"lookup", p, ErrNotExist}
	}
	return n, nil
}

// Stat returns the node at p, following a final symlink.
func (t *Tree) Stat(p string) (*Node, error) {
	p = path.Clean("/" + p)
	n, err := t.Lookup(p)
	for hops := 0; err == nil && n.Type == Symlink; hops++ {
		if hops >= maxHops {
			return nil, &PathError{"stat", p, ErrLoop}
		}
		target := n.Target
		if !strings.HasPrefix(target, "/") {
			target = path.Join(path.Dir(p), target)
		}
		p = path.Clean(target)
		n, err = t.Lookup(p)
	}
	return n, err
}

// Add places n at p, whose parent directory must exist. An existing
// non-directory there is replaced. An existing directory (or symlink to a
// directory) is kept as it is when n is a directory too, as dpkg keeps the
// directories another package or the merged-/usr layout made; replacing a
// directory by anything else is an error.
func (t *Tree) Add(p string, n *Node) error {
	if n == nil || n.Type < Regular || n.Type > FIFO {
		return &PathError{"add", p, errors.New("invalid node")}
	}
	dir, name, err := t.resolve(p, false, Header{})
	if err != nil {
		return &PathError{"add", p, err}
	}
	if dir == nil {
		return &PathError{"add", p, ErrExist}
	}
	n.Mode &= ModePerm
	if n.Type == Dir && n.children == nil {
		n.children = map[string]*Node{}
	}
	if old := dir.children[name]; old != nil {
		if old == n {
			return nil
		}
		isDir := old.Type == Dir
		if old.Type == Symlink && n.Type == Dir {
			s, err := t.Stat(p)
			isDir = err == nil && s.Type == Dir
		}
		switch {
		case isDir && n.Type == Dir:
			return nil
		case isDir:
			return &PathError{"add " + n.Type.String(), p, ErrIsDir}
		}
	}
	dir.children[name] = n
	return nil
}

// MkdirAll makes directory p and any missing parents with header h. Existing
// directories are left as they are. It returns the directory.
func (t *Tree) MkdirAll(p string, h Header) (*Node, error) {
	dir, name, err := t.resolve(p, true, h)
	if err != nil {
		return nil, &PathError{"mkdir", p, err}
	}
	if dir == nil {
		return t.root, nil
	}
	if old := dir.children[name]; old != nil {
		if old.Type == Symlink {
			s, err := t.Stat(p)
			if err == nil && s.Type == Dir {
				return s, nil
			}
		}
		if old.Type != Dir {
			return nil, &PathError{"mkdir", p, ErrExist}
		}
		return old, nil
	}
	n := h.node(Dir)
	n.children = map[string]*Node{}
	dir.children[name] = n
	return n, nil
}

// WriteFile adds (or replaces) a regular file with the given content.
func (t *Tree) WriteFile(p string, h Header, c Content) error {
	n := h.node(Regular)
	n.Content = c
	return t.Add(p, n)
}

// Symlink adds a symlink at p pointing at target.
func (t *Tree) Symlink(target, p string, h Header) error {
	if target == "" || strings.IndexByte(target, 0) >= 0 || len(target) > 4095 {
		return &PathError{"symlink", p, fmt.Errorf("%w: bad target %q", ErrBadPath, target)}
	}
	n := h.node(Symlink)
	n.Mode = 0o777
	n.Target = target
	return t.Add(p, n)
}

// Mknod adds a device node or FIFO. Callers decide whether the image may
// hold one: nothing adds them implicitly.
func (t *Tree) Mknod(p string, typ Type, h Header, major, minor uint32) error {
	if typ != CharDevice && typ != BlockDevice && typ != FIFO {
		return &PathError{"mknod", p, fmt.Errorf("type %s is not a device or fifo", typ)}
	}
	n := h.node(typ)
	n.Major, n.Minor = major, minor
	return t.Add(p, n)
}

// Link makes newp another name for the node at oldp (a hard link). Links to
// directories are refused, as by link(2).
func (t *Tree) Link(oldp, newp string) error {
	n, err := t.Lookup(oldp)
	if err != nil {
		return err
	}
	if n.Type == Dir {
		return &PathError{"link", oldp, ErrIsDir}
	}
	return t.Add(newp, n)
}

// Remove deletes p (an empty directory or any other node).
func (t *Tree) Remove(p string) error { return t.remove(p, false) }

// RemoveAll deletes p and everything below it. A missing p is not an error.
func (t *Tree) RemoveAll(p string) error { return t.remove(p, true) }

func (t *Tree) remove(p string, all bool) error {
	dir, name, err := t.resolve(p, false, Header{})
	if errors.Is(err, ErrNotExist) && all {
		return nil
	}
	if err != nil {
		return &PathError{"remove", p, err}
	}
	if dir == nil {
		return &PathError{"remove", p, errors.New("cannot remove the root")}
	}
	n := dir.children[name]
	switch {
	case n == nil && all:
		return nil
	case n == nil:
		return &PathError{"remove", p, ErrNotExist}
	case n.Type == Dir && len(n.children) > 0 && !all:
		return &PathError{"remove", p, ErrNotEmpty}
	}
	delete(dir.children, name)
	return nil
}

// Chown sets the owner of p (not following a final symlink).
func (t *Tree) Chown(p string, uid, gid uint32) error {
	n, err := t.Lookup(p)
	if err != nil {
		return err
	}
	n.UID, n.GID = uid, gid
	return nil
}

// Chmod sets the permission bits of p, including setuid/setgid/sticky.
func (t *Tree) Chmod(p string, mode uint32) error {
	n, err := t.Lookup(p)
	if err != nil {
		return err
	}
	if mode&^ModePerm != 0 {
		return &PathError{"chmod", p, fmt.Errorf("mode %#o has bits beyond %#o", mode, ModePerm)}
	}
	n.Mode = mode
	return nil
}

// Chtimes sets the mtime of p.
func (t *Tree) Chtimes(p string, mtime time.Time) error {
	n, err := t.Lookup(p)
	if err != nil {
		return err
	}
	n.Mtime = mtime
	return nil
}

// SetXattr sets an extended attribute of p (not following a final
// symlink). A nil value removes it. Like setxattr(2), it refuses user.*
// attributes on anything but regular files and directories.
func (t *Tree) SetXattr(p, name string, value []byte) error {
	n, err := t.Lookup(p)
	if err != nil {
		return err
	}
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return &PathError{"setxattr", p, fmt.Errorf("bad attribute name %q", name)}
	}
	if strings.HasPrefix(name, "user.") && n.Type != Regular && n.Type != Dir && value != nil {
		// setxattr(2) refuses these too (EPERM): the kernel keeps user.*
		// for files and directories, and would not read them back.
		return &PathError{"setxattr", p, fmt.Errorf("%s: user.* attributes only go on files and directories, not a %s", name, n.Type)}
	}
	if value == nil {
		delete(n.Xattrs, name)
		if len(n.Xattrs) == 0 {
			n.Xattrs = nil
		}
		return nil
	}
	if n.Xattrs == nil {
		n.Xattrs = map[string][]byte{}
	}
	n.Xattrs[name] = slices.Clone(value)
	return nil
}

// WalkFunc is called for every name in the tree. p is absolute ("/",
// "/usr", "/usr/bin"). Returning fs.SkipDir from a directory skips its
// contents; any other error stops the walk.
type WalkFunc func(p string, n *Node) error

// Walk visits every name in the tree, depth first, each directory's entries
// in byte order, so the order is the same for equal trees. A hard-linked
// node is visited once per name.
func (t *Tree) Walk(fn WalkFunc) error {
	err := walk("/", t.root, fn)
	if err == fs.SkipDir {
		return nil
	}
	return err
}

func walk(p string, n *Node, fn WalkFunc) error {
	if err := fn(p, n); err != nil {
		return err
	}
	if n.Type != Dir {
		return nil
	}
	for _, name := range sortedNames(n.children) {
		err := walk(path.Join(p, name), n.children[name], fn)
		if err != nil && err != fs.SkipDir {
			return err
		}
	}
	return nil
}

func sortedNames(m map[string]*Node) []string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
