package imagebuild

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/pkg/debarchive"
	"github.com/hardenvm/hardenvm/pkg/erofs"
	"github.com/hardenvm/hardenvm/pkg/fstree"
	"github.com/hardenvm/hardenvm/pkg/imagespec"
	"github.com/hardenvm/hardenvm/pkg/initramfs"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/rootfs"
	"github.com/hardenvm/hardenvm/pkg/verity"
)

// inputs are what the build read before its first stage; the stage
// cache's keys are made of them.
type inputs struct {
	spec, lock  []byte // the files as they are
	init, agent []byte
	sources     [][]byte // the spec's files with a source, in spec order
	epoch       []byte
	paths       map[string]string // package name → fetched .deb
	cache       *debarchive.Cache
	adminCert   []byte
	parsedSpec  *imagespec.Spec
	parsedLock  *imagespec.Lock
}

func (in *inputs) rootKey(c *stageCache, kind string) string {
	return c.key(kind, append([][]byte{in.spec, in.lock, in.init, in.agent, in.epoch}, in.sources...)...)
}

// rootStage is the root image, its verity tree, and what later steps
// need from the tree.
type rootStage struct {
	root, verity *os.File
	Image        erofs.Image
	Verity       verity.Result
	OSRelease    []byte
}

// rootMeta is a root entry's meta.json.
type rootMeta struct {
	Image     erofs.Image
	Verity    verity.Result
	OSRelease []byte
}

// Names of the files in a root entry.
const (
	rootImage  = "root.img"
	rootVerity = "root.verity"
)

// buildRoot unpacks the packages, applies the spec, writes the EROFS
// image and its verity tree, or opens them from the stage cache.
func buildRoot(ctx context.Context, p *progress, c *stageCache, in *inputs, work string, o Options) (*rootStage, error) {
	key := in.rootKey(c, "root")
	var meta rootMeta
	if dir, ok := c.lookup("root", key, &meta); ok {
		r, err := openRoot(dir, meta)
		if err == nil {
			p.skip("unpacking the root file system", "writing the root file system (EROFS)", "computing the dm-verity tree")
			return r, nil
		}
		c.log.Warn("stage cache: entry unusable, rebuilding it", "dir", dir, "err", err)
	}
	if err := p.begin(ctx, "unpacking the root file system"); err != nil {
		return nil, err
	}
	tree, err := unpackRoot(in, o)
	if err != nil {
		return nil, err
	}
	osrel, _ := readTree(tree, "etc/os-release")
	e := c.begin("root", key, work)
	defer e.abort()
	if err := p.begin(ctx, "writing the root file system (EROFS)"); err != nil {
		return nil, err
	}
	r := &rootStage{OSRelease: osrel}
	if r.root, r.Image, err = writeRoot(filepath.Join(e.Path, rootImage), tree, in.parsedSpec.Rootfs.Compression, o); err != nil {
		return nil, err
	}
	if err := p.begin(ctx, "computing the dm-verity tree"); err != nil {
		r.close()
		return nil, err
	}
	if r.verity, r.Verity, err = formatVerity(ctx, io.NewSectionReader(r.root, 0, r.Image.Size), filepath.Join(e.Path, rootVerity)); err != nil {
		r.close()
		return nil, err
	}
	e.commit(rootMeta{Image: r.Image, Verity: r.Verity, OSRelease: osrel}, r.root, r.verity)
	return r, nil
}

func openRoot(dir string, meta rootMeta) (*rootStage, error) {
	r := &rootStage{Image: meta.Image, Verity: meta.Verity, OSRelease: meta.OSRelease}
	var err error
	if r.root, err = openSized(filepath.Join(dir, rootImage), meta.Image.Size); err != nil {
		return nil, err
	}
	if r.verity, err = openSized(filepath.Join(dir, rootVerity), meta.Verity.HashSize); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// openSized opens a cached file that must have size bytes (a crash can
// leave a committed entry with a short file on some file systems).
func openSized(p string, size int64) (*os.File, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() != size {
		f.Close()
		return nil, fmt.Errorf("%s: not the %d bytes recorded", p, size)
	}
	return f, nil
}

func (r *rootStage) close() {
	for _, f := range []*os.File{r.root, r.verity} {
		if f != nil {
			f.Close()
		}
	}
}

// unpackRoot is the root tree: the packages, the spec applied, the init,
// the agent and the guest settings added.
func unpackRoot(in *inputs, o Options) (*fstree.Tree, error) {
	s := in.parsedSpec
	debs, err := debsOf(in.parsedLock.Packages, in.paths, in.cache)
	if err != nil {
		return nil, err
	}
	tree, _, err := rootfs.Unpack(debs, rootfs.UnpackOptions{Epoch: o.Epoch, Log: o.Log})
	if err != nil {
		return nil, err
	}
	x, err := rootfs.Exclude(tree, s.Rootfs.Exclude, s.Rootfs.Keep)
	if err != nil {
		return nil, err
	}
	if x.Names > 0 {
		o.Log.Info("left out of the root (rootfs.exclude)", "names", x.Names, "bytes", x.Bytes)
	}
	if err := rootfs.Apply(tree, s, o.Epoch); err != nil {
		return nil, err
	}
	if _, err := tree.MkdirAll(filepath.Dir(bootparams.RootInit), fstree.Header{Mode: 0o755, Mtime: o.Epoch}); err != nil {
		return nil, err
	}
	if err := tree.WriteFile(bootparams.RootInit, fstree.Header{Mode: 0o755, Mtime: o.Epoch}, fstree.Bytes(in.init)); err != nil {
		return nil, err
	}
	if in.agent != nil {
		if err := tree.WriteFile(bootparams.RootAgent, fstree.Header{Mode: 0o755, Mtime: o.Epoch}, fstree.Bytes(in.agent)); err != nil {
			return nil, err
		}
	}
	if err := rootfs.CheckGuest(tree, s); err != nil {
		return nil, err
	}
	guest, err := bootparams.MarshalGuest(GuestSettings(s))
	if err != nil {
		return nil, fmt.Errorf("build: %s: %w", o.Spec, err)
	}
	if _, err := tree.MkdirAll(filepath.Dir(bootparams.GuestPath), fstree.Header{Mode: 0o755, Mtime: o.Epoch}); err != nil {
		return nil, err
	}
	if err := tree.WriteFile(bootparams.GuestPath, fstree.Header{Mode: 0o644, Mtime: o.Epoch}, fstree.Bytes(guest)); err != nil {
		return nil, err
	}
	return tree, nil
}

// bootStage is the kernel and the initramfs built for it.
type bootStage struct {
	kern      *kernelParts
	initrd    []byte
	Initramfs manifest.Initramfs
}

// bootMeta is an initramfs entry's meta.json.
type bootMeta struct {
	Release   string
	Initramfs manifest.Initramfs
}

// Names of the files in an initramfs entry.
const (
	bootKernel = "vmlinuz"
	bootInitrd = "initrd.img"
)

// buildBoot unpacks the kernel packages and writes the initramfs, or
// reads both from the stage cache. It needs nothing from the root, so
// the build runs it beside the root stage.
func buildBoot(c *stageCache, in *inputs, work string, o Options) (*bootStage, error) {
	key := c.key("initramfs", in.spec, in.lock, in.init, in.adminCert, in.epoch)
	var meta bootMeta
	if dir, ok := c.lookup("initramfs", key, &meta); ok {
		vmlinuz, err1 := os.ReadFile(filepath.Join(dir, bootKernel))
		initrd, err2 := os.ReadFile(filepath.Join(dir, bootInitrd))
		if err1 == nil && err2 == nil && int64(len(initrd)) == meta.Initramfs.Size && manifest.HashBytes(initrd).SHA256 == meta.Initramfs.SHA256 {
			return &bootStage{kern: &kernelParts{release: meta.Release, vmlinuz: vmlinuz}, initrd: initrd, Initramfs: meta.Initramfs}, nil
		}
		c.log.Warn("stage cache: entry unusable, rebuilding it", "dir", dir)
	}
	kdebs, err := debsOf(in.parsedLock.Kernel, in.paths, in.cache)
	if err != nil {
		return nil, err
	}
	ktree, _, err := rootfs.Unpack(kdebs, rootfs.UnpackOptions{Epoch: o.Epoch, Log: o.Log})
	if err != nil {
		return nil, err
	}
	kern, err := findKernel(ktree)
	if err != nil {
		return nil, err
	}
	var initrd bytes.Buffer
	ir, err := initramfs.Write(&initrd, initramfs.Input{
		Init: in.init, Modules: ktree.FS(kern.modulesDir()), Names: in.parsedSpec.Kernel.Modules,
		AdminCert: in.adminCert, Release: kern.release, Mtime: o.Epoch,
	})
	if err != nil {
		return nil, err
	}
	b := &bootStage{kern: kern, initrd: initrd.Bytes(),
		Initramfs: manifest.Initramfs{SHA256: manifest.HashBytes(initrd.Bytes()).SHA256, Size: int64(initrd.Len()), Modules: ir.Modules}}
	if c.dir == "" {
		return b, nil
	}
	e := c.begin("initramfs", key, work)
	if e.dir == nil {
		return b, nil
	}
	defer e.abort()
	var files []*os.File
	for name, data := range map[string][]byte{bootKernel: kern.vmlinuz, bootInitrd: b.initrd} {
		f, err := os.Create(filepath.Join(e.Path, name))
		if err == nil {
			_, err = f.Write(data)
			files = append(files, f)
		}
		if err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
		defer f.Close()
	}
	e.commit(bootMeta{Release: kern.release, Initramfs: b.Initramfs}, files...)
	return b, nil
}

// readInputs reads what the stage cache's keys are made of.
func readInputs(s *imagespec.Spec, lock *imagespec.Lock, o Options, initBin, agentBin []byte, paths map[string]string, cache *debarchive.Cache, set *keys.Set) (*inputs, error) {
	in := &inputs{init: initBin, agent: agentBin, paths: paths, cache: cache, parsedSpec: s, parsedLock: lock,
		epoch: []byte(o.Epoch.UTC().Format(time.RFC3339Nano)), adminCert: pemCert(set.Get(keys.Admin))}
	var err error
	if in.spec, err = os.ReadFile(o.Spec); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	if in.lock, err = os.ReadFile(imagespec.LockPath(o.Spec)); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	for _, f := range s.Files {
		if f.Source == "" {
			continue
		}
		b, err := os.ReadFile(f.Source)
		if err != nil {
			return nil, fmt.Errorf("build: %s: %w", f.Source, err)
		}
		in.sources = append(in.sources, b)
	}
	return in, nil
}
