package verify

import (
	"crypto"
	"errors"
	"path/filepath"
	"slices"

	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/provenance"
)

// checkProvenance checks the signed SLSA provenance when the image has
// one: signed by the artifact-signing key, and every artifact the manifest
// lists, and the manifest itself, is a subject with its current digest.
func checkProvenance(add addFunc, dir string, m *manifest.Manifest, pub crypto.PublicKey) {
	p, err := provenance.Read(dir, pub)
	if errors.Is(err, provenance.ErrMissing) {
		add("provenance", provenance.FileName, Skip, "no provenance (built before provenance was written, or the config partition was replaced since)")
		return
	}
	if err != nil {
		add("provenance", provenance.FileName, Fail, "%v", trimDir(err, dir))
		return
	}
	names := []string{manifest.FileName}
	for n := range m.Artifacts {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		want, ok := p.Subjects[n]
		if !ok {
			add("provenance", provenance.FileName, Fail, "%s is not among its subjects", n)
			return
		}
		got, err := manifest.HashFile(filepath.Join(dir, n))
		if err != nil {
			add("provenance", n, Fail, "%v", trimDir(err, dir))
			return
		}
		if got.SHA256 != want {
			add("provenance", n, Fail, "sha256 %s, the provenance says %s", short(got.SHA256), short(want))
			return
		}
	}
	add("provenance", provenance.FileName, OK, "SLSA provenance by %s signed by the artifact-signing key; %d subjects match", p.Builder, len(names))
}
