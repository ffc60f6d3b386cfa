// Package rootfs builds the VM's root filesystem image: Debian packages
// unpacked into a merged-/usr tree (Unpack), the image spec's changes
// applied by the caller, then the tree written as a read-only EROFS image
// (Build), ready for dm-verity. No step needs root or runs package code,
// and the same inputs give the same bytes.
package rootfs

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hardenvm/hardenvm/pkg/debpkg"
	"github.com/hardenvm/hardenvm/pkg/erofs"
	"github.com/hardenvm/hardenvm/pkg/fstree"
)

// Deb is one package to unpack.
type Deb struct {
	Name string // for errors and logs, e.g. "busybox-static_1.37.0-6_amd64"
	Open func() (io.ReadCloser, error)
}

// UnpackOptions configure Unpack.
type UnpackOptions struct {
	// Epoch is the mtime of the directories and symlinks of the merged-/usr
	// layout (packages bring their own mtimes).
	Epoch time.Time
	// Deb is passed to debpkg.Unpack for every package (device node
	// policy, owner mapping).
	Deb debpkg.Options
	// SpillDir holds the unnamed temporary file that keeps the packages'
	// file contents out of memory until the image is written
	// (fstree.Spill); os.TempDir() when empty.
	SpillDir string
	Log      *slog.Logger
}

// Unpack makes a merged-/usr tree and unpacks debs into it in the order
// given (callers pass the lock file's order, so a file two packages ship
// resolves the same way every time). Packages are decompressed in
// parallel, one per CPU, and applied to the tree one after the other. It
// returns what each package said about itself, in the same order.
//
// File contents go to a spill file (see UnpackOptions.SpillDir), not the
// heap: the tree holds references the image writer reads from, so memory
// stays flat however large the packages are. The spill's space is
// returned when the tree is garbage (or the process ends).
func Unpack(debs []Deb, opt UnpackOptions) (_ *fstree.Tree, _ []*debpkg.Info, err error) {
	log := logger(opt.Log)
	spill, err := fstree.NewSpill(opt.SpillDir)
	if err != nil {
		return nil, nil, fmt.Errorf("rootfs: %w", err)
	}
	defer func() {
		if err != nil {
			spill.Close()
		}
	}()
	t := fstree.New()
	t.Root().Mtime = opt.Epoch
	if err := t.MergeUsr(fstree.Header{Mtime: opt.Epoch}); err != nil {
		return nil, nil, err
	}
	start := time.Now()
	pkgs := make([]*debpkg.Package, len(debs))
	errs := make([]error, len(debs))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, d := range debs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r, err := d.Open()
			if err != nil {
				errs[i] = fmt.Errorf("rootfs: %s: %w", d.Name, err)
				return
			}
			defer r.Close()
			if pkgs[i], err = debpkg.ReadTo(r, spill); err != nil {
				errs[i] = fmt.Errorf("rootfs: reading %s: %w", d.Name, err)
			}
		})
	}
	wg.Wait()
	infos := make([]*debpkg.Info, 0, len(debs))
	for i, d := range debs {
		if errs[i] != nil {
			return nil, nil, errs[i]
		}
		if err := pkgs[i].Apply(t, opt.Deb); err != nil {
			return nil, nil, fmt.Errorf("rootfs: unpacking %s: %w", d.Name, err)
		}
		if s := pkgs[i].Scripts; len(s) > 0 {
			log.Debug("maintainer scripts not run", "package", d.Name, "scripts", strings.Join(s, ","))
		}
		infos = append(infos, &pkgs[i].Info)
	}
	log.Info("packages unpacked", "count", len(debs), "took", time.Since(start).Round(time.Millisecond))
	if err := CheckMergedUsr(t); err != nil {
		return nil, nil, err
	}
	return t, infos, nil
}

// CheckMergedUsr fails if a package (or a spec change) replaced one of the
// merged-/usr symlinks: files under /bin would then be missing from
// /usr/bin, and the other way round.
func CheckMergedUsr(t *fstree.Tree) error {
	for _, d := range fstree.MergedUsrDirs {
		n, err := t.Lookup(d)
		if err != nil || n.Type != fstree.Symlink || n.Target != "usr/"+d {
			return fmt.Errorf("rootfs: /%s is no longer the merged-/usr symlink to usr/%s", d, d)
		}
	}
	return nil
}

// Options configure Build.
type Options struct {
	// Epoch is SOURCE_DATE_EPOCH: the image's timestamp and the bound of
	// every file's mtime. Required.
	Epoch time.Time
	// UUID of the filesystem; zero derives it from the image's bytes
	// (erofs.Options.UUID).
	UUID       [16]byte
	VolumeName string
	// Compression of regular files (erofs.CompressNone: stored as is).
	Compression erofs.Compression
	Log         *slog.Logger
}

// Build writes t as a read-only EROFS image to w (from offset 0; the length
// is a multiple of 4096).
func Build(t *fstree.Tree, w io.WriterAt, opt Options) (erofs.Image, error) {
	if opt.Epoch.IsZero() {
		return erofs.Image{}, errors.New("rootfs: no SOURCE_DATE_EPOCH (Options.Epoch)")
	}
	start := time.Now()
	img, err := erofs.Write(w, t, erofs.Options{Epoch: opt.Epoch, UUID: opt.UUID, VolumeName: opt.VolumeName, Compression: opt.Compression})
	if err != nil {
		return erofs.Image{}, fmt.Errorf("rootfs: %w", err)
	}
	logger(opt.Log).Info("root filesystem written", "bytes", img.Size, "inodes", img.Inodes, "compression", opt.Compression,
		"uuid", fmt.Sprintf("%x", img.UUID), "took", time.Since(start).Round(time.Millisecond))
	return img, nil
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
