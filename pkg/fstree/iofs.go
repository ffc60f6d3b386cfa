package fstree

import (
	"bufio"
	"io"
	"io/fs"
	"path"
	"slices"
	"time"
)

// FS returns a read-only io/fs view of the tree below dir (symlinks
// followed), so code written for fs.FS (os.DirFS in tests) can read from a
// tree that was never written to disk: the kernel modules inside an
// unpacked kernel package, say.
func (t *Tree) FS(dir string) fs.FS { return treeFS{t: t, dir: dir} }

type treeFS struct {
	t   *Tree
	dir string
}

func (f treeFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	n, err := f.t.Stat(path.Join(f.dir, name))
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	file := &treeFile{n: n, name: path.Base(name)}
	if n.Type == Regular && n.Content != nil {
		rc, err := n.Content.Open()
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		file.rc = rc
	}
	return file, nil
}

type treeFile struct {
	n    *Node
	name string
	rc   io.ReadCloser
	br   *bufio.Reader // over rc, made by the first read
	dirs []string      // remaining ReadDir names
	read bool
}

func (f *treeFile) Stat() (fs.FileInfo, error) { return nodeInfo{f.n, f.name}, nil }

func (f *treeFile) Read(b []byte) (int, error) {
	if f.n.Type == Dir {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: ErrIsDir}
	}
	if f.rc == nil {
		return 0, io.EOF
	}
	return f.buffered().Read(b)
}

// buffered is the file's contents behind a buffer. Decompressors read
// their input a byte at a time (the xz reader does, through layers that
// hide an io.ByteReader), and each byte was a pread(2) of the spill
// file: a second of CPU per build for the initramfs's .ko.xz modules.
// Large reads pass the buffer by.
func (f *treeFile) buffered() *bufio.Reader {
	if f.br == nil {
		f.br = bufio.NewReaderSize(f.rc, 32<<10)
	}
	return f.br
}

// ReadByte makes a treeFile an io.ByteReader.
func (f *treeFile) ReadByte() (byte, error) {
	if f.n.Type == Dir {
		return 0, &fs.PathError{Op: "read", Path: f.name, Err: ErrIsDir}
	}
	if f.rc == nil {
		return 0, io.EOF
	}
	return f.buffered().ReadByte()
}

func (f *treeFile) Close() error {
	if f.rc != nil {
		return f.rc.Close()
	}
	return nil
}

func (f *treeFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if f.n.Type != Dir {
		return nil, &fs.PathError{Op: "readdir", Path: f.name, Err: ErrNotDir}
	}
	if !f.read {
		f.dirs = slices.Sorted(slices.Values(f.n.Names()))
		f.read = true
	}
	var out []fs.DirEntry
	for len(f.dirs) > 0 && (n <= 0 || len(out) < n) {
		name := f.dirs[0]
		f.dirs = f.dirs[1:]
		out = append(out, fs.FileInfoToDirEntry(nodeInfo{f.n.Child(name), name}))
	}
	if n > 0 && len(out) == 0 {
		return nil, io.EOF
	}
	return out, nil
}

type nodeInfo struct {
	n    *Node
	name string
}

func (i nodeInfo) Name() string       { return i.name }
func (i nodeInfo) Size() int64        { return i.n.Size() }
func (i nodeInfo) ModTime() time.Time { return i.n.Mtime }
func (i nodeInfo) IsDir() bool        { return i.n.Type == Dir }
func (i nodeInfo) Sys() any           { return i.n }
func (i nodeInfo) Mode() fs.FileMode {
	m := fs.FileMode(i.n.Mode & 0o777)
	switch i.n.Type {
	case Dir:
		m |= fs.ModeDir
	case Symlink:
		m |= fs.ModeSymlink
	case CharDevice:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case BlockDevice:
		m |= fs.ModeDevice
	case FIFO:
		m |= fs.ModeNamedPipe
	}
	return m
}
