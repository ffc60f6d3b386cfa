package imagebuild

import (
	"fmt"
	"os"
	"path"
	"path/filepath"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/internal/version"
	"github.com/hardenvm/hardenvm/pkg/debarchive"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/imagespec"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/sbom"
)

// sbomInput gathers what the SBOM lists: the locked packages read from
// the cache, the kernel, and our own files in the root (the init, the
// agent, and what the spec copies in from outside: the runtime shim, the
// authorization plugin).
func sbomInput(s *imagespec.Spec, lock *imagespec.Lock, paths map[string]string, cache *debarchive.Cache, kern *kernelParts, initBin, agentBin []byte, o Options) (sbom.Input, error) {
	in := sbom.Input{Name: s.Name, Epoch: o.Epoch, Tool: "hardenvm", ToolVersion: version.Get().String(), Distro: lock.Release()}
	for _, g := range []struct {
		role string
		pkgs []imagespec.Package
	}{{"rootfs", lock.Packages}, {"kernel", lock.Kernel}, {"stub", []imagespec.Package{lock.Stub}}} {
		for _, p := range g.pkgs {
			open, err := openDeb(p, paths, cache)
			if err != nil {
				return in, err
			}
			in.Packages = append(in.Packages, sbom.Package{Name: p.Name, Version: p.Version, Arch: p.Arch, SHA256: p.SHA256,
				Suite: p.Suite, Role: g.role, Deb: open})
		}
	}
	kpkg := lock.Kernel[0].Name
	for _, p := range lock.Kernel {
		if p.Name == "linux-image-"+kern.release {
			kpkg = p.Name
		}
	}
	in.Kernel = &sbom.Kernel{Release: kern.release, SHA256: manifest.HashBytes(kern.vmlinuz).SHA256, Package: kpkg}
	in.Binaries = append(in.Binaries, sbom.Binary{Path: "/" + bootparams.RootInit, Data: initBin})
	if agentBin != nil {
		in.Binaries = append(in.Binaries, sbom.Binary{Path: "/" + bootparams.RootAgent, Data: agentBin})
	}
	for _, f := range s.Files {
		if f.Source == "" {
			continue
		}
		b, err := os.ReadFile(f.Source)
		if err != nil {
			return in, fmt.Errorf("build: sbom: %s: %w", f.Source, err)
		}
		in.Binaries = append(in.Binaries, sbom.Binary{Path: path.Join("/", f.Path), Data: b})
	}
	return in, nil
}

// writeSBOM writes the SBOM into dir (the manifest lists it with the
// other artifacts), or copies it from the stage cache: reading every
// package's changelog and copyright is most of its cost.
func writeSBOM(dir string, in sbom.Input, c *stageCache, key, work string) error {
	var meta struct{ SHA256 string }
	var b []byte
	if d, ok := c.lookup("sbom", key, &meta); ok {
		if cached, err := os.ReadFile(filepath.Join(d, imagedir.SBOM)); err == nil && manifest.HashBytes(cached).SHA256 == meta.SHA256 {
			b = cached
		}
	}
	if b == nil {
		bom, err := sbom.Build(in)
		if err != nil {
			return err
		}
		if b, err = sbom.Marshal(bom); err != nil {
			return err
		}
		if e := c.begin("sbom", key, work); e.dir != nil {
			if err := os.WriteFile(filepath.Join(e.Path, imagedir.SBOM), b, 0o644); err == nil {
				meta.SHA256 = manifest.HashBytes(b).SHA256
				e.commit(meta)
			}
			e.abort()
		}
	}
	if err := os.WriteFile(filepath.Join(dir, imagedir.SBOM), b, 0o644); err != nil {
		return fmt.Errorf("build: writing the SBOM: %w", err)
	}
	return nil
}
