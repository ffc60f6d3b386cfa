package build

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/hardenvm/hardenvm/pkg/deb"
	"github.com/hardenvm/hardenvm/pkg/sbom"
	"github.com/hardenvm/hardenvm/pkg/spec"
)

// checkSBOM reads a built image's SBOM back with the CycloneDX library: it
// lists as many Debian packages as the lock pins, each with the SHA-256 of
// the .deb in the download cache.
func checkSBOM(t *testing.T, out string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, sbom.FileName))
	if err != nil {
		t.Fatal(err)
	}
	bom, err := sbom.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	_, lock, err := spec.LoadLocked(minimalSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	cache, err := deb.DefaultCache()
	if err != nil {
		t.Fatal(err)
	}
	debs := 0
	for _, c := range *bom.Components {
		if c.Properties == nil || !hasProperty(c.Properties, "hardenvm:role") {
			continue
		}
		debs++
		if c.Hashes == nil || len(*c.Hashes) != 1 {
			t.Errorf("%s: hashes %v", c.BOMRef, c.Hashes)
			continue
		}
		sum := (*c.Hashes)[0].Value
		if got := hashOf(t, cache.Path(deb.KindDeb, sum)); got != sum {
			t.Errorf("%s: sha256 %s, the cached .deb's is %s", c.BOMRef, sum, got)
		}
	}
	if want := len(lock.All()); debs != want {
		t.Errorf("the SBOM lists %d Debian packages, the lock %d", debs, want)
	}
	t.Logf("SBOM: %d components (%d Debian packages), %d bytes", len(*bom.Components), debs, len(b))
}

func hasProperty(ps *[]cdx.Property, name string) bool {
	return slices.ContainsFunc(*ps, func(p cdx.Property) bool { return p.Name == name })
}
