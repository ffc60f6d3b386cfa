package imagebuild

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/internal/version"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/imagespec"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/sbom"
)

// sbomInput gathers what the SBOM lists: the locked packages read from
// the cache, the kernel, and our own files in the root (the init, the
// agent, and what the spec copies in from outside: the runtime shim, the
// authorization plugin).
func sbomInput(s *imagespec.Spec, lock *imagespec.Lock, paths map[string]string, kern *kernelParts, initBin, agentBin []byte, o Options) (sbom.Input, error) {
	in := sbom.Input{Name: s.Name, Epoch: o.Epoch, Tool: "hardenvm", ToolVersion: version.Get().String(), Distro: lock.Release()}
	for _, g := range []struct {
		role string
		pkgs []imagespec.Package
	}{{"rootfs", lock.Packages}, {"kernel", lock.Kernel}, {"stub", []imagespec.Package{lock.Stub}}} {
		for _, p := range g.pkgs {
			file, ok := paths[p.Name]
			if !ok {
				return in, fmt.Errorf("build: BUG: package %s was not fetched", p.Name)
			}
			in.Packages = append(in.Packages, sbom.Package{Name: p.Name, Version: p.Version, Arch: p.Arch, SHA256: p.SHA256,
				Suite: p.Suite, Role: g.role, Deb: func() (io.ReadCloser, error) { return os.Open(file) }})
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
// other artifacts).
func writeSBOM(dir string, in sbom.Input) error {
	bom, err := sbom.Build(in)
	if err != nil {
		return err
	}
	b, err := sbom.Marshal(bom)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, imagedir.SBOM), b, 0o644); err != nil {
		return fmt.Errorf("build: writing the SBOM: %w", err)
	}
	return nil
}
