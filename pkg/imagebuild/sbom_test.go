package imagebuild

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/hardenvm/hardenvm/internal/cosigntest"
	"github.com/hardenvm/hardenvm/pkg/checklist"
	"github.com/hardenvm/hardenvm/pkg/debarchive"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/imagespec"
	"github.com/hardenvm/hardenvm/pkg/sbom"
)

// checkSBOM reads a built image's SBOM back with the CycloneDX library: it
// lists as many Debian packages as the lock pins, each with the SHA-256 of
// the .deb in the download cache.
func checkSBOM(t *testing.T, out string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, imagedir.SBOM))
	if err != nil {
		t.Fatal(err)
	}
	bom, err := sbom.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	_, lock, err := imagespec.LoadLocked(minimalSpec(t))
	if err != nil {
		t.Fatal(err)
	}
	cache, err := debarchive.DefaultCache()
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
		if got := hashOf(t, cache.Path(debarchive.KindDeb, sum)); got != sum {
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

// checkProvenance: `hardenvm verify` passed the provenance check (not
// skipped), and cosign accepts the provenance for the built disk.
func checkProvenance(t *testing.T, out, keysDir string, rep *checklist.Report) {
	t.Helper()
	ok := false
	for _, c := range rep.Checks {
		ok = ok || c.Name == "provenance" && c.Status == checklist.OK
	}
	if !ok {
		t.Errorf("verify did not pass a provenance check: %+v", rep.Checks)
	}
	t.Run("cosign", func(t *testing.T) {
		bin := cosigntest.Binary(t)
		if ok, msg := cosigntest.Verify(t, bin, t.TempDir(), "verify-blob-attestation", "--key", filepath.Join(keysDir, "signing.pub"),
			"--bundle", filepath.Join(out, imagedir.Provenance), "--insecure-ignore-tlog=true", "--type", "slsaprovenance1",
			filepath.Join(out, imagedir.Disk)); !ok {
			t.Errorf("cosign verify-blob-attestation rejected the build's provenance:\n%s", msg)
		}
	})
}
