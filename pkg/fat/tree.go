package fat

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf16"
)

// File is one input: a regular file, or a directory when Dir is set (a
// file's parent directories are created without being listed).
type File struct {
	Path string // slash-separated, relative: "EFI/BOOT/BOOTX64.EFI"
	Dir  bool
	Size int64
	Data io.Reader // exactly Size bytes; read once, by Write
}

const (
	attrDir      = 0x10
	attrVolumeID = 0x08
	attrLongName = 0x0F
)

type node struct {
	name     string
	path     string
	dir      bool
	file     *File
	children []*node
	byName   map[string]*node // children by upper-case name: FAT names ignore case
	short    [11]byte
	long     bool // needs long name entries
	cluster  uint32
	nclust   uint32
	// parentCluster is what ".." points at: 0 for the root.
	parentCluster uint32
}

// entries is the number of 32-byte directory entries n takes in its parent.
func (n *node) entries() int {
	if !n.long {
		return 1
	}
	return 1 + (len(utf16.Encode([]rune(n.name)))+12)/13
}

// buildTree turns the flat list into a tree, refusing bad names and
// names that clash in FAT's case-insensitive namespace.
func buildTree(files []File) (*node, error) {
	root := &node{dir: true, byName: map[string]*node{}}
	for i := range files {
		f := &files[i]
		parts := strings.Split(strings.Trim(f.Path, "/"), "/")
		if f.Path == "" || strings.HasPrefix(f.Path, "/") {
			return nil, fmt.Errorf("fat: path %q must be relative and non-empty", f.Path)
		}
		if f.Size < 0 || !f.Dir && f.Size > 0xFFFFFFFF {
			return nil, fmt.Errorf("fat: %s: size %d does not fit FAT32 (at most 4 GiB - 1)", f.Path, f.Size)
		}
		if !f.Dir && f.Size > 0 && f.Data == nil {
			return nil, fmt.Errorf("fat: %s: no data", f.Path)
		}
		d := root
		for j, name := range parts {
			if err := checkName(name); err != nil {
				return nil, fmt.Errorf("fat: %s: %w", f.Path, err)
			}
			last := j == len(parts)-1
			key := strings.ToUpper(name)
			c := d.byName[key]
			switch {
			case c == nil:
				c = &node{name: name, path: strings.Join(parts[:j+1], "/"), dir: !last || f.Dir}
				if c.dir {
					c.byName = map[string]*node{}
				}
				d.children = append(d.children, c)
				d.byName[key] = c
			case c.name != name:
				return nil, fmt.Errorf("fat: %s: clashes with %s (FAT names ignore case)", f.Path, c.path)
			case last && (!c.dir || !f.Dir) || !last && !c.dir:
				return nil, fmt.Errorf("fat: %s: listed twice, or both a file and a directory", f.Path)
			}
			if last && !f.Dir {
				c.file = f
			}
			d = c
		}
	}
	return root, root.assignShort()
}

// assignShort sorts each directory and gives every entry its short name:
// names that are valid 8.3 keep theirs, then the others get "~N" aliases.
func (d *node) assignShort() error {
	sort.Slice(d.children, func(i, j int) bool { return d.children[i].name < d.children[j].name })
	used := map[[11]byte]bool{}
	next := map[string]int{}
	for _, c := range d.children {
		if s, ok := exactShort(c.name); ok {
			c.short = s
			used[s] = true
		}
	}
	for _, c := range d.children {
		if _, ok := exactShort(c.name); ok {
			continue
		}
		s, err := aliasShort(c.name, used, next)
		if err != nil {
			return fmt.Errorf("fat: %s: %w", c.path, err)
		}
		c.short, c.long, used[s] = s, true, true
	}
	for _, c := range d.children {
		if c.dir {
			if err := c.assignShort(); err != nil {
				return err
			}
		}
	}
	return nil
}
