// Package debpkg unpacks Debian binary packages (.deb) into an
// fstree.Tree, without root and without running anything.
//
// It reads the ar container (debian-binary 2.x, control.tar, data.tar, in
// that order, as dpkg requires), control and data tarballs uncompressed or
// compressed with gzip, xz, zstd or bzip2, and copies every data.tar entry
// into the tree with its numeric owner, permission bits (setuid, setgid,
// sticky included), mtime, symlink target, hard link and PAX xattrs
// (SCHILY.xattr.*). Paths go through the tree, so on a merged-/usr tree a
// package's ./bin/sh lands in /usr/bin/sh.
//
// What dpkg would do beyond unpacking is not done: maintainer scripts never
// run (Info.Scripts names the ones present so a build can say what it
// skipped; the image spec declares users, groups and files they would have
// made), conffiles get no special treatment, and Replaces/Conflicts are not
// checked (a later package's file replaces an earlier one's). Device nodes
// and FIFOs are refused unless Options.AllowDevice accepts their path.
package debpkg

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/hardenvm/hardenvm/pkg/deb822"
	"github.com/hardenvm/hardenvm/pkg/fstree"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Options adjust how a package lands in the tree.
type Options struct {
	// AllowDevice reports whether the package may create the device node
	// or FIFO at path (as written in the package, e.g. "./dev/null").
	// Nil refuses them all.
	AllowDevice func(path string) bool
	// Owner maps an entry's owner to the ids the image uses. Nil keeps the
	// numeric ids in the package; dpkg would look the names up in the
	// target's passwd and group instead, which a spec can do here.
	Owner func(uname, gname string, uid, gid int) (uint32, uint32, error)
}

// Info is what Unpack learnt about the package.
type Info struct {
	// Control holds the fields of DEBIAN/control (Package, Version,
	// Architecture, ...). Continuation lines are joined with "\n".
	Control map[string]string
	// Scripts lists the maintainer scripts the package carries (preinst,
	// postinst, prerm, postrm, config), none of which ran.
	Scripts []string
	// Paths lists every data.tar entry as written in the package.
	Paths []string
}

var maintainerScripts = map[string]bool{"preinst": true, "postinst": true, "prerm": true, "postrm": true, "config": true}

// Package is a .deb read into memory, ready to be applied to a tree.
// Reading (decompressing) is the slow part and needs no tree, so callers
// can Read several packages at once and Apply them in a fixed order.
type Package struct {
	Info
	dataName string // the data.tar member, for errors
	entries  []entry
	spill    *fstree.Spill
}

type entry struct {
	hdr  *tar.Header
	data fstree.Content // regular files
}

// Unpack reads a .deb from r into t: Read, then Apply.
func Unpack(r io.Reader, t *fstree.Tree, opt Options) (*Info, error) {
	p, err := Read(r)
	if err != nil {
		return nil, err
	}
	if err := p.Apply(t, opt); err != nil {
		return nil, err
	}
	return &p.Info, nil
}

// Read reads and decompresses a whole .deb into memory.
func Read(r io.Reader) (*Package, error) { return ReadTo(r, nil) }

// ReadTo reads and decompresses a whole .deb, keeping the files' contents
// in spill (in memory when spill is nil): a root filesystem's packages
// then need not fit in the builder's memory.
func ReadTo(r io.Reader, spill *fstree.Spill) (*Package, error) {
	pkg := &Package{spill: spill}
	err := walk(r, func(tr io.Reader, comp string) error {
		return readControl(tr, comp, &pkg.Info)
	}, func(name string, tr io.Reader, comp string) error {
		pkg.dataName = name
		return readData(tr, comp, pkg)
	})
	if err != nil {
		return nil, err
	}
	return pkg, nil
}

// walk checks the ar members of a .deb (debian-binary 2.x, control.tar,
// data.tar, in that order) and hands the two tarballs, still compressed,
// to control and data with the compression suffix after ".tar".
func walk(r io.Reader, control func(r io.Reader, comp string) error, data func(member string, r io.Reader, comp string) error) error {
	ar, err := newArReader(r)
	if err != nil {
		return err
	}
	want := []string{"debian-binary", "control.tar", "data.tar"}
	for step := 0; step < len(want); {
		name, size, err := ar.next()
		if err == io.EOF {
			return fmt.Errorf("no %s member", want[step])
		}
		if err != nil {
			return err
		}
		if strings.HasPrefix(name, "_") { // dpkg skips members starting with "_" (signatures)
			continue
		}
		base, comp, _ := strings.Cut(name, ".tar")
		base += ".tar"
		if step == 0 {
			base = name
		}
		if base != want[step] {
			return fmt.Errorf("member %q where %s was expected", name, want[step])
		}
		switch step {
		case 0:
			if size > 64 {
				return fmt.Errorf("debian-binary of %d bytes", size)
			}
			v, _ := io.ReadAll(ar)
			if !bytes.HasPrefix(v, []byte("2.")) {
				return fmt.Errorf("unsupported .deb format version %q (want 2.x)", bytes.TrimSpace(v))
			}
		case 1:
			if err := control(ar, comp); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		case 2:
			if err := data(name, ar, comp); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		step++
	}
	return nil
}

// decompress opens a tar member by the suffix after ".tar".
func decompress(r io.Reader, suffix string) (io.Reader, func(), error) {
	none := func() {}
	switch suffix {
	case "":
		return r, none, nil
	case ".gz":
		z, err := gzip.NewReader(r)
		return z, none, err
	case ".xz":
		z, err := xz.NewReader(bufio.NewReader(r))
		return z, none, err
	case ".zst":
		z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<27), zstd.WithDecoderMaxMemory(1<<32))
		if err != nil {
			return nil, none, err
		}
		return z, z.Close, nil
	case ".bz2":
		return bzip2.NewReader(r), none, nil
	}
	return nil, none, fmt.Errorf("unsupported compression %q (want none, .gz, .xz, .zst or .bz2)", suffix)
}

func readControl(r io.Reader, comp string, info *Info) error {
	err := eachEntry(r, comp, func(h *tar.Header, tr io.Reader) error {
		name := strings.TrimPrefix(h.Name, "./")
		if maintainerScripts[name] {
			info.Scripts = append(info.Scripts, name)
		}
		if name == "control" {
			c, err := deb822.NewReader(io.LimitReader(tr, 1<<20), "control").Next()
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			info.Control = c
		}
		return nil
	})
	if err != nil {
		return err
	}
	if info.Control["Package"] == "" {
		return errors.New("no control file with a Package field")
	}
	return nil
}

// eachEntry decompresses a tar member by its suffix (see decompress) and
// calls fn for every entry, with a reader of the entry's data.
func eachEntry(r io.Reader, comp string, fn func(h *tar.Header, r io.Reader) error) error {
	zr, done, err := decompress(r, comp)
	if err != nil {
		return err
	}
	defer done()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(h, tr); err != nil {
			return err
		}
	}
}

func readData(r io.Reader, comp string, pkg *Package) error {
	return eachEntry(r, comp, func(h *tar.Header, tr io.Reader) error {
		e := entry{hdr: h}
		if h.Typeflag == tar.TypeReg || h.Typeflag == tar.TypeRegA {
			if h.Size < 0 {
				return fmt.Errorf("%s: negative size", h.Name)
			}
			if pkg.spill != nil {
				c, err := pkg.spill.Store(tr, h.Size)
				if err != nil {
					return fmt.Errorf("%s: %w", h.Name, err)
				}
				e.data = c
			} else {
				// Room for the file and the MinRead bytes ReadFrom
				// wants free before it sees EOF: without them, every
				// buffer doubles at its end (twice the memory).
				var buf bytes.Buffer
				buf.Grow(int(min(h.Size, 64<<20)) + bytes.MinRead)
				if _, err := io.Copy(&buf, tr); err != nil {
					return fmt.Errorf("%s: %w", h.Name, err)
				}
				e.data = fstree.Bytes(buf.Bytes())
			}
		}
		pkg.entries = append(pkg.entries, e)
		pkg.Paths = append(pkg.Paths, h.Name)
		return nil
	})
}

// Apply puts the package's files into t, in the package's order.
func (p *Package) Apply(t *fstree.Tree, opt Options) error {
	for _, e := range p.entries {
		if err := addEntry(t, e.data, e.hdr, opt); err != nil {
			return fmt.Errorf("%s: %s: %w", p.dataName, e.hdr.Name, err)
		}
	}
	return nil
}

func addEntry(t *fstree.Tree, data fstree.Content, h *tar.Header, opt Options) error {
	uid, gid := uint32(h.Uid), uint32(h.Gid)
	if h.Uid < 0 || h.Gid < 0 || int64(h.Uid) > 1<<32-1 || int64(h.Gid) > 1<<32-1 {
		return fmt.Errorf("owner %d:%d out of range", h.Uid, h.Gid)
	}
	if opt.Owner != nil {
		var err error
		if uid, gid, err = opt.Owner(h.Uname, h.Gname, h.Uid, h.Gid); err != nil {
			return err
		}
	}
	hdr := fstree.Header{Mode: uint32(h.Mode) & fstree.ModePerm, UID: uid, GID: gid, Mtime: h.ModTime}
	var err error
	switch h.Typeflag {
	case tar.TypeDir:
		if strings.Trim(h.Name, "./") == "" {
			return nil // "./": the root belongs to the image, not to one package
		}
		n := &fstree.Node{Type: fstree.Dir, Mode: hdr.Mode, UID: uid, GID: gid, Mtime: h.ModTime}
		err = t.Add(h.Name, n)
	case tar.TypeReg, tar.TypeRegA:
		err = t.WriteFile(h.Name, hdr, data)
	case tar.TypeSymlink:
		err = t.Symlink(h.Linkname, h.Name, hdr)
	case tar.TypeLink:
		err = t.Link(h.Linkname, h.Name)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if opt.AllowDevice == nil || !opt.AllowDevice(h.Name) {
			return errors.New("device node or FIFO in a package: refused (declare it in the image spec to allow it)")
		}
		typ := map[byte]fstree.Type{tar.TypeChar: fstree.CharDevice, tar.TypeBlock: fstree.BlockDevice, tar.TypeFifo: fstree.FIFO}[h.Typeflag]
		if h.Devmajor < 0 || h.Devminor < 0 || h.Devmajor > 1<<32-1 || h.Devminor > 1<<32-1 {
			return fmt.Errorf("device number %d:%d out of range", h.Devmajor, h.Devminor)
		}
		err = t.Mknod(h.Name, typ, hdr, uint32(h.Devmajor), uint32(h.Devminor))
	default:
		return fmt.Errorf("unsupported tar entry type %q", h.Typeflag)
	}
	if err != nil {
		return err
	}
	for k, v := range h.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			if err := t.SetXattr(h.Name, name, []byte(v)); err != nil {
				return err
			}
		}
	}
	return nil
}
