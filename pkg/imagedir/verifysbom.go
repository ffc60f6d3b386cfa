package imagedir

import (
	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/hardenvm/hardenvm/pkg/checklist"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/sbom"
)

// checkSBOM reads the SBOM the manifest lists (its digest is checked with
// the other artifacts) back with the CycloneDX library and checks that it
// lists every Debian package the manifest names, by SHA-256.
func checkSBOM(add addFunc, dir string, m *manifest.Manifest) {
	if _, ok := m.Artifacts[SBOM]; !ok {
		add("sbom", Manifest, checklist.Skip, "the manifest lists no SBOM (built before SBOMs were written)")
		return
	}
	// Its size and digest were checked against the signed manifest.
	b, err := ReadArtifact(dir, SBOM, m.Artifacts[SBOM].Size)
	if err != nil {
		add("sbom", SBOM, checklist.Fail, "%v", trimDir(err, dir))
		return
	}
	bom, err := sbom.Parse(b)
	if err != nil {
		add("sbom", SBOM, checklist.Fail, "%v", err)
		return
	}
	have := map[string]bool{}
	var comps []cdx.Component
	if bom.Components != nil {
		comps = *bom.Components
	}
	for _, c := range comps {
		if c.Hashes != nil {
			for _, h := range *c.Hashes {
				have[c.Name+" "+h.Value] = true
			}
		}
	}
	for _, p := range m.Inputs {
		if !have[p.Name+" "+p.SHA256] {
			add("sbom", SBOM, checklist.Fail, "does not list %s %s with the manifest's sha256 %s", p.Name, p.Version, p.SHA256)
			return
		}
	}
	vulns := 0
	if bom.Vulnerabilities != nil {
		vulns = len(*bom.Vulnerabilities)
	}
	add("sbom", SBOM, checklist.OK, "CycloneDX %s: the manifest's %d packages among %d components; %d CVEs resolved by their changelogs",
		bom.SpecVersion, len(m.Inputs), len(comps), vulns)
}
