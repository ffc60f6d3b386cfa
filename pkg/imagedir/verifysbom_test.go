package imagedir_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/imagetest"
	"github.com/hardenvm/hardenvm/pkg/checklist"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/sbom"
)

// withSBOM adds an SBOM with the given bytes to the image's artifacts.
func withSBOM(t *testing.T, im *imagetest.Image, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(im.Dir, imagedir.SBOM), b, 0o644); err != nil {
		t.Fatal(err)
	}
	im.Manifest.Artifacts[imagedir.SBOM] = manifest.HashBytes(b)
}

func TestSBOM(t *testing.T) {
	bom, err := sbom.Build(sbom.Input{Name: "imagetest", Epoch: time.Unix(1700000000, 0), Tool: "hardenvm",
		Binaries: []sbom.Binary{{Path: "/etc/motd", Data: []byte("hi\n")}}})
	if err != nil {
		t.Fatal(err)
	}
	good, err := sbom.Marshal(bom)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		edit   func(t *testing.T, im *imagetest.Image)
		status checklist.Status
		detail string
	}{
		{"listed and complete", func(t *testing.T, im *imagetest.Image) { withSBOM(t, im, good) }, checklist.OK, "CycloneDX 1.6"},
		{"a package missing", func(t *testing.T, im *imagetest.Image) {
			withSBOM(t, im, good)
			im.Manifest.Inputs = []manifest.Package{{Name: "runc", Version: "1", Role: "rootfs", SHA256: strings.Repeat("ab", 32)}}
		}, checklist.Fail, "does not list runc"},
		{"not CycloneDX", func(t *testing.T, im *imagetest.Image) { withSBOM(t, im, []byte(`{"spdxVersion":"SPDX-2.3"}`)) }, checklist.Fail, "not a CycloneDX 1.6"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im := imagetest.New(t, imagetest.Options{Seed: uint64(200 + i)})
			tt.edit(t, im)
			im.Resign(t)
			r := mustVerify(t, im.Dir, opts(im))
			var got *checklist.Check
			for i, c := range r.Checks {
				if c.Name == "sbom" {
					got = &r.Checks[i]
				}
			}
			if got == nil || got.Status != tt.status || !strings.Contains(got.Detail, tt.detail) {
				t.Errorf("sbom check = %+v, want %s mentioning %q", got, tt.status, tt.detail)
			}
			if tt.status == checklist.OK && r.Err() != nil {
				t.Errorf("Err() = %v", r.Err())
			}
		})
	}
}
