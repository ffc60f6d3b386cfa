package fstree

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"time"
)

// Entry is one line of a tree's listing: what an independent reader of an
// image (fsck.erofs --extract, the kernel) must see for the image to be
// faithful to the tree.
type Entry struct {
	Path   string
	Type   Type
	Mode   uint32
	UID    uint32
	GID    uint32
	Size   int64 // 0 for directories, whose size is the writer's business
	Target string
	Major  uint32
	Minor  uint32
	Mtime  time.Time
	Xattrs map[string]string // values as strings so listings compare and print well
	// Link numbers hard-link groups: entries with the same non-zero Link
	// are one inode. Numbered by first appearance in walk order.
	Link int
	// SHA256 of a regular file's contents (hex), when asked for.
	SHA256 string
}

// ListOptions selects the optional, costlier columns of List.
type ListOptions struct {
	Digests bool // read every file and fill SHA256
}

// List returns the tree's entries in Walk order.
func (t *Tree) List(opt ListOptions) ([]Entry, error) {
	var out []Entry
	refs := map[*Node]int{}
	err := t.Walk(func(p string, n *Node) error {
		if n.Type != Dir {
			refs[n]++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	links := map[*Node]int{}
	err = t.Walk(func(p string, n *Node) error {
		e := Entry{Path: p, Type: n.Type, Mode: n.Mode, UID: n.UID, GID: n.GID, Target: n.Target,
			Major: n.Major, Minor: n.Minor, Mtime: n.Mtime}
		if n.Type != Dir {
			e.Size = n.Size()
		}
		if len(n.Xattrs) > 0 {
			e.Xattrs = map[string]string{}
			for k, v := range n.Xattrs {
				e.Xattrs[k] = string(v)
			}
		}
		if refs[n] > 1 {
			if links[n] == 0 {
				links[n] = len(links) + 1
			}
			e.Link = links[n]
		}
		if opt.Digests && n.Type == Regular {
			sum, err := digest(n)
			if err != nil {
				return fmt.Errorf("fstree: reading %s: %w", p, err)
			}
			e.SHA256 = sum
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

func digest(n *Node) (string, error) {
	h := sha256.New()
	if n.Content != nil {
		r, err := n.Content.Open()
		if err != nil {
			return "", err
		}
		defer r.Close()
		if _, err := io.Copy(h, r); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
