package imagebuild

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/pkg/arch"
	"github.com/hardenvm/hardenvm/pkg/debarchive"
	"github.com/hardenvm/hardenvm/pkg/efivars"
	"github.com/hardenvm/hardenvm/pkg/fstree"
	"github.com/hardenvm/hardenvm/pkg/imagespec"
	"github.com/hardenvm/hardenvm/pkg/rootfs"
)

// debsOf turns locked packages into rootfs inputs read from the cache,
// in their decompressed form (debarchive.KindDecompressed).
func debsOf(pkgs []imagespec.Package, paths map[string]string, cache *debarchive.Cache) ([]rootfs.Deb, error) {
	var debs []rootfs.Deb
	for _, p := range pkgs {
		open, err := openDeb(p, paths, cache)
		if err != nil {
			return nil, err
		}
		debs = append(debs, rootfs.Deb{Name: p.Name + "_" + p.Version + "_" + p.Arch, Open: open})
	}
	return debs, nil
}

// openDeb opens the fetched .deb of p decompressed, which unpacks to the
// same files as the .deb the lock pins (written from it on first use).
func openDeb(p imagespec.Package, paths map[string]string, cache *debarchive.Cache) (func() (io.ReadCloser, error), error) {
	file, ok := paths[p.Name]
	if !ok {
		return nil, fmt.Errorf("build: BUG: package %s was not fetched", p.Name)
	}
	return func() (io.ReadCloser, error) {
		d, err := cache.Decompressed(p.SHA256, file)
		if err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
		return os.Open(d)
	}, nil
}

// kernelParts are the boot inputs taken from the locked kernel package.
type kernelParts struct {
	release string
	vmlinuz []byte
	tree    *fstree.Tree // modules live under usr/lib/modules/<release>
}

func (k *kernelParts) modulesDir() string { return "usr/lib/modules/" + k.release }

// findKernel picks vmlinuz-<release> out of the unpacked kernel packages.
func findKernel(t *fstree.Tree) (*kernelParts, error) {
	boot, err := t.Stat("boot")
	if err != nil {
		return nil, fmt.Errorf("build: the kernel package has no /boot: %w", err)
	}
	var releases []string
	for _, name := range boot.Names() {
		if r, ok := strings.CutPrefix(name, "vmlinuz-"); ok {
			releases = append(releases, r)
		}
	}
	if len(releases) != 1 {
		return nil, fmt.Errorf("build: want exactly one /boot/vmlinuz-* in the kernel packages, found %d (%v)", len(releases), releases)
	}
	k := &kernelParts{release: releases[0], tree: t}
	if k.vmlinuz, err = readTree(t, "boot/vmlinuz-"+k.release); err != nil {
		return nil, err
	}
	if _, err := t.Stat(k.modulesDir()); err != nil {
		return nil, fmt.Errorf("build: kernel %s has no modules directory /%s: %w", k.release, k.modulesDir(), err)
	}
	return k, nil
}

// StubPath is where Debian's systemd-boot-efi ships the x86-64 UKI stub
// (arch.Arch.StubPath for the others).
var StubPath = arch.AMD64.StubPath()

func readTree(t *fstree.Tree, p string) ([]byte, error) {
	n, err := t.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("build: /%s: %w", p, err)
	}
	if n.Type != fstree.Regular || n.Content == nil {
		return nil, fmt.Errorf("build: /%s is not a regular file", path.Clean(p))
	}
	rc, err := n.Content.Open()
	if err != nil {
		return nil, fmt.Errorf("build: /%s: %w", p, err)
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// GuestSettings is what stage 2 of the guest init needs from the spec
// (bootparams.GuestPath in the root file system).
func GuestSettings(s *imagespec.Spec) bootparams.Guest {
	var g bootparams.Guest
	for _, sv := range s.Services {
		bs := bootparams.Service{Name: sv.Name, Command: sv.Command, Args: sv.Args,
			Env: sv.Env, User: sv.User, Restart: sv.Restart, Depends: sv.Depends}
		if r := sv.Ready; r != nil {
			bs.Ready = &bootparams.Readiness{Socket: r.Socket, HTTPGet: r.HTTPGet, TimeoutSeconds: int(r.ReadyTimeout().Seconds())}
		}
		g.Services = append(g.Services, bs)
	}
	g.Data = s.Data
	return g
}

// readAgent reads the attestation agent binary at path when a service of
// the spec runs it (it is required then), and nothing otherwise.
func readAgent(s *imagespec.Spec, path string) ([]byte, error) {
	runs := false
	for _, sv := range s.Services {
		if sv.Command == "/"+bootparams.RootAgent {
			runs = true
		}
	}
	if !runs {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("build: %s runs /%s as a service: attestation agent: %w; build it with 'make build' or pass --agent", s.Path, bootparams.RootAgent, err)
	}
	return b, nil
}

// archOf is the spec's architecture and the firmware that boots it.
func archOf(s *imagespec.Spec) (arch.Arch, efivars.Firmware, error) {
	a, err := arch.Lookup(s.Debian.Arch)
	if err != nil {
		return arch.Arch{}, efivars.Firmware{}, fmt.Errorf("build: %s: debian.arch: %w", s.Path, err)
	}
	fw, err := efivars.FirmwareOf(a.Debian)
	if err != nil {
		return arch.Arch{}, efivars.Firmware{}, fmt.Errorf("build: %s: %w", s.Path, err)
	}
	return a, fw, nil
}

// checkGuestBinary refuses a guest binary (the init, the agent) built for
// another architecture than the image's, which would not even start.
func checkGuestBinary(what, path string, b []byte, a arch.Arch) error {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("build: %s %s is not an ELF program: %w", what, path, err)
	}
	if uint16(f.Machine) != a.ELFMachine {
		return fmt.Errorf("build: %s %s is for %s, the image is %s: pass one built for %s (make build puts it in %s)",
			what, path, f.Machine, a.Debian, a.Debian, filepath.Dir(filepath.Join("bin", GuestPath(filepath.Base(path), a))))
	}
	return nil
}
