package imagedir

import (
	"context"
	"crypto"
	"errors"
	"maps"
	"os"
	"slices"

	"github.com/hardenvm/hardenvm/pkg/checklist"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/provenance"
)

// checkProvenance checks the signed SLSA provenance when the image has
// one: signed by the artifact-signing key, and every artifact the manifest
// lists, and the manifest itself, is a subject with its current digest.
func checkProvenance(add addFunc, dir string, m *manifest.Manifest, found map[string]string, pub crypto.PublicKey) {
	b, err := ReadArtifact(dir, Provenance, MaxProvenance)
	if errors.Is(err, os.ErrNotExist) {
		add("provenance", Provenance, checklist.Skip, "no provenance (built before provenance was written, or the config partition was replaced since)")
		return
	}
	var p *provenance.Parsed
	if err == nil {
		p, err = provenance.Verify(b, pub)
	}
	if err != nil {
		add("provenance", Provenance, checklist.Fail, "%v", trimDir(err, dir))
		return
	}
	// The artifacts were hashed once, by the digest check (found); only
	// the manifest itself is hashed here. An artifact that could not be
	// hashed is compared as empty, so it fails.
	mf, err := HashArtifact(context.Background(), dir, Manifest, manifest.File{})
	if err != nil {
		add("provenance", Manifest, checklist.Fail, "%v", trimDir(err, dir))
		return
	}
	digests := map[string]string{Manifest: mf.SHA256}
	for n := range m.Artifacts {
		digests[n] = found[n]
	}
	names := slices.Sorted(maps.Keys(digests))
	for _, n := range names {
		want, ok := p.Subjects[n]
		if !ok {
			add("provenance", Provenance, checklist.Fail, "%s is not among its subjects", n)
			return
		}
		if got := digests[n]; got != want {
			add("provenance", n, checklist.Fail, "sha256 %s, the provenance says %s", got, want)
			return
		}
	}
	add("provenance", Provenance, checklist.OK, "SLSA provenance by %s signed by the artifact-signing key; %d subjects match", p.Builder, len(names))
}
