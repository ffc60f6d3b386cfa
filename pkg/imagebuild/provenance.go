package imagebuild

import (
	"crypto"
	"path"
	"path/filepath"

	"github.com/hardenvm/hardenvm/internal/version"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/imagespec"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/provenance"
	"github.com/hardenvm/hardenvm/pkg/sbom"
)

// writeProvenance signs the SLSA provenance of the build into dir: the
// spec, the lock, every .deb and our binaries in; every artifact and the
// manifest out.
func writeProvenance(dir string, o Options, m *manifest.Manifest, lock *imagespec.Lock, bins []sbom.Binary, key crypto.Signer) error {
	v := version.Get()
	in := provenance.Input{
		Spec:           provenance.Resource{Name: o.Spec, SHA256: m.Spec.SHA256},
		Epoch:          m.Epoch,
		BuilderVersion: map[string]string{"hardenvm": v.String(), "go": v.Go},
	}
	in.Dependencies = append(in.Dependencies, provenance.Resource{Name: m.Lock.Path, SHA256: m.Lock.SHA256})
	for _, p := range lock.All() {
		in.Dependencies = append(in.Dependencies, provenance.Resource{Name: path.Base(p.Path),
			URI: sbom.PackageURL(p.Name, p.Version, p.Arch, lock.Release()), SHA256: p.SHA256})
	}
	for _, b := range bins {
		in.Dependencies = append(in.Dependencies, provenance.Resource{Name: b.Path, SHA256: manifest.HashBytes(b.Data).SHA256})
	}
	in.Dependencies = append(in.Dependencies, provenance.Resource{Name: "hardenvm", URI: "pkg:golang/" + v.Module + "@" + v.Version, GitCommit: v.Commit})
	for name, f := range m.Artifacts {
		in.Subjects = append(in.Subjects, provenance.Resource{Name: name, SHA256: f.SHA256})
	}
	mf, err := manifest.HashFile(filepath.Join(dir, imagedir.Manifest))
	if err != nil {
		return err
	}
	in.Subjects = append(in.Subjects, provenance.Resource{Name: imagedir.Manifest, SHA256: mf.SHA256})
	return provenance.Write(filepath.Join(dir, imagedir.Provenance), in, key)
}
