// Package fstree is the in-memory filesystem tree that a root filesystem is
// built in: the Debian unpacker fills it, the image spec mutates it (users'
// files, symlinks, owners, file capabilities) and a filesystem writer
// (pkg/erofs) serialises it. It is the narrow type between those steps, so it
// holds exactly what a read-only root filesystem image can record: type,
// permission bits including setuid/setgid/sticky, numeric owner, mtime,
// extended attributes (security.capability for file capabilities), symlink
// targets, device numbers and file contents, with hard links as one Node
// reachable by several names.
//
// Nothing here touches the host filesystem except FromDir, which reads a
// directory into a tree (file contents stay on disk until read), and
// Spill, a temporary file that keeps large contents out of memory.
//
// Paths are slash-separated and taken relative to the tree's root whether or
// not they start with "/" or "./". Intermediate symlinks are followed inside
// the tree (never outside it), the way dpkg writes /bin/sh through a /bin ->
// usr/bin symlink on a merged-/usr system; the last component is never
// followed.
package fstree

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Type is the kind of a Node.
type Type uint8

// The node types. Device nodes and FIFOs exist only when something declared
// them: the Debian unpacker refuses the ones a package ships unless declared.
const (
	Regular Type = iota + 1
	Dir
	Symlink
	CharDevice
	BlockDevice
	FIFO
)

func (t Type) String() string {
	switch t {
	case Regular:
		return "file"
	case Dir:
		return "dir"
	case Symlink:
		return "symlink"
	case CharDevice:
		return "char"
	case BlockDevice:
		return "block"
	case FIFO:
		return "fifo"
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Permission bits beyond rwxrwxrwx, as in stat(2).
const (
	ModeSetuid = 0o4000
	ModeSetgid = 0o2000
	ModeSticky = 0o1000
	ModePerm   = 0o7777 // every bit Node.Mode may hold
)

// Node is one inode. Hard links are the same *Node under several names, so
// a change through one name (Chown, SetXattr) shows under all of them, as on
// a real filesystem.
type Node struct {
	Type  Type
	Mode  uint32 // permission bits only (ModePerm); the type is in Type
	UID   uint32
	GID   uint32
	Mtime time.Time
	// Xattrs maps full attribute names ("security.capability",
	// "user.foo") to values. Nil when there are none.
	Xattrs map[string][]byte
	// Target is a symlink's target, stored verbatim.
	Target string
	// Major and Minor number a character or block device.
	Major, Minor uint32
	// Content is a regular file's data; nil means empty.
	Content Content

	children map[string]*Node // directories only
}

// Header is the metadata a mutation gives a new node.
type Header struct {
	Mode  uint32
	UID   uint32
	GID   uint32
	Mtime time.Time
}

func (h Header) node(t Type) *Node {
	return &Node{Type: t, Mode: h.Mode & ModePerm, UID: h.UID, GID: h.GID, Mtime: h.Mtime}
}

// Size is the length of a regular file's contents, of a symlink's target,
// and 0 for everything else (a directory's size depends on the writer).
func (n *Node) Size() int64 {
	switch n.Type {
	case Regular:
		if n.Content == nil {
			return 0
		}
		return n.Content.Size()
	case Symlink:
		return int64(len(n.Target))
	}
	return 0
}

// Names returns a directory's entry names in byte order (nil otherwise).
func (n *Node) Names() []string {
	if n.Type != Dir {
		return nil
	}
	return sortedNames(n.children)
}

// Child returns a directory's entry by name, or nil.
func (n *Node) Child(name string) *Node {
	return n.children[name]
}

// Content is a regular file's data: in memory, or a lazy source read only
// when a writer needs it.
type Content interface {
	Size() int64
	// Open returns a reader of exactly Size bytes. Writers check the count
	// and fail if the source changed underneath them.
	Open() (io.ReadCloser, error)
}

// Bytes is file content held in memory.
type Bytes []byte

// Size implements Content.
func (b Bytes) Size() int64 { return int64(len(b)) }

// Open implements Content. The reader is also an io.Seeker, so a reader
// of part of the file (the EROFS writer compressing a segment) starts
// where it needs to.
func (b Bytes) Open() (io.ReadCloser, error) { return seekNopCloser{bytes.NewReader(b)}, nil }

// seekNopCloser is io.NopCloser for a reader that can also seek.
type seekNopCloser struct{ io.ReadSeeker }

func (seekNopCloser) Close() error { return nil }

// HostFile is file content read from the host filesystem when needed. Its
// size is recorded when it is made so that a changed file is detected.
type HostFile struct {
	Path string
	Len  int64
}

// NewHostFile records path's current size.
func NewHostFile(path string) (HostFile, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return HostFile{}, fmt.Errorf("fstree: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return HostFile{}, fmt.Errorf("fstree: %s: not a regular file", path)
	}
	return HostFile{Path: path, Len: fi.Size()}, nil
}

// Size implements Content.
func (f HostFile) Size() int64 { return f.Len }

// Open implements Content. The file is opened without registering it with
// Go's network poller (a regular file gains nothing from it and it costs a
// system call per file, which shows when an image holds thousands).
func (f HostFile) Open() (io.ReadCloser, error) {
	fd, err := unix.Open(f.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: f.Path, Err: err}
	}
	return os.NewFile(uintptr(fd), f.Path), nil
}
