package imagedir_test

import (
	"crypto"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/internal/imagetest"
	"github.com/hardenvm/hardenvm/pkg/checklist"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/provenance"
)

// withProvenance signs provenance over the image's artifacts and manifest.
func withProvenance(t *testing.T, im *imagetest.Image, key crypto.Signer) {
	t.Helper()
	in := provenance.Input{Spec: provenance.Resource{Name: "images/test.yml", SHA256: strings.Repeat("0", 64)}}
	for _, n := range []string{"disk.raw", "uki.efi", "OVMF_VARS.fd", imagedir.Manifest} {
		in.Subjects = append(in.Subjects, provenance.Resource{Name: n, SHA256: imagetest.SHA256(t, filepath.Join(im.Dir, n))})
	}
	if err := provenance.Write(filepath.Join(im.Dir, imagedir.Provenance), in, key); err != nil {
		t.Fatal(err)
	}
}

func TestProvenance(t *testing.T) {
	other := imagetest.OtherKeys(t)
	tests := []struct {
		name     string
		edit     func(t *testing.T, im *imagetest.Image)
		status   checklist.Status
		artifact string
		detail   string
	}{
		{"matches", func(t *testing.T, im *imagetest.Image) { withProvenance(t, im, im.Keys.Get(keys.Signing).Signer) }, checklist.OK, imagedir.Provenance, "subjects match"},
		{"other key", func(t *testing.T, im *imagetest.Image) { withProvenance(t, im, other.Get(keys.Signing).Signer) }, checklist.Fail, imagedir.Provenance, "another key"},
		{"an artifact changed since", func(t *testing.T, im *imagetest.Image) {
			withProvenance(t, im, im.Keys.Get(keys.Signing).Signer)
			imagetest.FlipByte(t, filepath.Join(im.Dir, "OVMF_VARS.fd"), 100)
		}, checklist.Fail, "OVMF_VARS.fd", "the provenance says"},
		{"manifest re-signed since", func(t *testing.T, im *imagetest.Image) {
			withProvenance(t, im, im.Keys.Get(keys.Signing).Signer)
			im.Manifest.Name = "renamed"
			im.Resign(t)
		}, checklist.Fail, imagedir.Manifest, "the provenance says"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im := imagetest.New(t, imagetest.Options{Seed: uint64(300 + i)})
			tt.edit(t, im)
			r := mustVerify(t, im.Dir, opts(im))
			var got *checklist.Check
			for i, c := range r.Checks {
				if c.Name == "provenance" {
					got = &r.Checks[i]
				}
			}
			if got == nil || got.Status != tt.status || got.Artifact != tt.artifact || !strings.Contains(got.Detail, tt.detail) {
				t.Errorf("provenance check = %+v, want %s on %s mentioning %q", got, tt.status, tt.artifact, tt.detail)
			}
		})
	}
}
