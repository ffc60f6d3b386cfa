package imagedir_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hardenvm/hardenvm/internal/imagetest"
	"github.com/hardenvm/hardenvm/pkg/checklist"
	"github.com/hardenvm/hardenvm/pkg/gpt"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/manifest"
)

func opts(im *imagetest.Image) imagedir.Trust {
	return imagedir.Trust{PublicKey: im.Keys.Get(keys.Signing).Public()}
}

func statuses(r *checklist.Report) map[string]checklist.Status {
	m := map[string]checklist.Status{}
	for _, c := range r.Checks {
		k := c.Name + " " + c.Artifact
		if m[k] != checklist.Fail {
			m[k] = c.Status
		}
	}
	return m
}

func mustVerify(t *testing.T, dir string, o imagedir.Trust) *checklist.Report {
	t.Helper()
	r, err := imagedir.Verify(context.Background(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestGoodImage(t *testing.T) {
	im := imagetest.New(t, imagetest.Options{})
	r := mustVerify(t, im.Dir, opts(im))
	if err := r.Err(); err != nil {
		t.Fatalf("Err() = %v; checks %+v", err, r.Checks)
	}
	want := map[string]checklist.Status{
		"bundle manifest.json":                checklist.OK,
		"digest OVMF_VARS.fd":                 checklist.OK,
		"digest disk.raw":                     checklist.OK,
		"digest uki.efi":                      checklist.OK,
		"verity disk.raw":                     checklist.OK,
		"config disk.raw":                     checklist.Skip,
		"authenticode uki.efi":                checklist.OK,
		"sbom manifest.json":                  checklist.Skip,
		"provenance provenance.sigstore.json": checklist.Skip,
	}
	if diff := cmp.Diff(want, statuses(r)); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	if !r.OK {
		t.Error("Report.OK = false")
	}
	last := r.Checks[len(r.Checks)-1]
	if last.Name != "config" || last.Detail != "no config partition" {
		t.Errorf("config check = %+v, want 'no config partition'", last)
	}
	// Pinning the right db certificate passes too.
	o := opts(im)
	o.DBCert = im.Keys.Get(keys.DB).Cert
	if err := mustVerify(t, im.Dir, o).Err(); err != nil {
		t.Errorf("with the db certificate pinned: %v", err)
	}
}

// TestConfigPartition: verify checks the config partition as the init
// does, with the admin certificate from the signed UKI's initramfs.
func TestConfigPartition(t *testing.T) {
	im := imagetest.New(t, imagetest.Options{Config: true, Seed: 5})
	r := mustVerify(t, im.Dir, opts(im))
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	configCheck := func(r *checklist.Report) *checklist.Check {
		for i, c := range r.Checks {
			if c.Name == "config" {
				return &r.Checks[i]
			}
		}
		return nil
	}
	if c := configCheck(r); c == nil || c.Status != checklist.OK || !strings.Contains(c.Detail, "signed by the admin certificate") {
		t.Errorf("config check = %+v, want OK naming the admin certificate", c)
	}

	// One flipped byte of the config's data: the digest check fails, and
	// so does the config's own check, naming its partition.
	flipped := imagetest.New(t, imagetest.Options{Config: true, Seed: 6})
	imagetest.FlipByte(t, filepath.Join(flipped.Dir, "disk.raw"), partitionOffset(t, filepath.Join(flipped.Dir, "disk.raw"), gpt.TypeLinuxData)+100)
	if c := configCheck(mustVerify(t, flipped.Dir, opts(flipped))); c == nil || c.Status != checklist.Fail || !strings.Contains(c.Detail, "config partition") {
		t.Errorf("config check of a flipped byte = %+v, want FAIL", c)
	}

	// A manifest pinning another admin certificate.
	other := imagetest.New(t, imagetest.Options{Config: true, Seed: 7})
	other.Manifest.Keys.Admin = imagetest.OtherKeys(t).Get(keys.Admin).Fingerprint()
	other.Resign(t)
	if c := configCheck(mustVerify(t, other.Dir, opts(other))); c == nil || c.Status != checklist.Fail || !strings.Contains(c.Detail, "is not the one the manifest pins") {
		t.Errorf("config check with another pinned admin = %+v, want FAIL", c)
	}
}

func partitionOffset(t *testing.T, path string, typ gpt.GUID) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	tab, err := gpt.Read(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tab.Partitions {
		if p.Type == typ {
			return p.Offset(tab.SectorSize)
		}
	}
	t.Fatalf("no partition of type %s", typ)
	return 0
}

// indexIn finds s in the file (for a byte inside a JSON value).
func indexIn(t *testing.T, path, s string) int64 {
	t.Helper()
	b, _ := os.ReadFile(path)
	i := bytes.Index(b, []byte(s))
	if i < 0 {
		t.Fatalf("%q not in %s", s, path)
	}
	return int64(i)
}

// TestOneByteChanged: one changed byte in any artifact, the manifest or the
// bundle fails verification, naming that file, with the check that caught
// it.
func TestOneByteChanged(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		offset   func(t *testing.T, im *imagetest.Image) int64
		artifact string
		checks   []string // the checks that must fail
	}{
		{"root data", "disk.raw", func(t *testing.T, im *imagetest.Image) int64 {
			return partitionOffset(t, filepath.Join(im.Dir, "disk.raw"), gpt.TypeRootX86_64) + 5000
		}, "disk.raw", []string{"digest", "verity"}},
		{"verity tree", "disk.raw", func(t *testing.T, im *imagetest.Image) int64 {
			return partitionOffset(t, filepath.Join(im.Dir, "disk.raw"), gpt.TypeRootVerityX86_64) + 4096 + 7
		}, "disk.raw", []string{"digest", "verity"}},
		{"ESP", "disk.raw", func(t *testing.T, im *imagetest.Image) int64 {
			return partitionOffset(t, filepath.Join(im.Dir, "disk.raw"), gpt.TypeESP) + 70000
		}, "disk.raw", []string{"digest"}},
		{"uki", "uki.efi", func(*testing.T, *imagetest.Image) int64 { return 3000 }, "uki.efi", []string{"digest", "authenticode"}},
		{"uki signature", "uki.efi", func(*testing.T, *imagetest.Image) int64 { return -40 }, "uki.efi", []string{"digest", "authenticode"}},
		{"vars", "OVMF_VARS.fd", func(*testing.T, *imagetest.Image) int64 { return 12345 }, "OVMF_VARS.fd", []string{"digest"}},
		{"manifest", imagedir.Manifest, func(t *testing.T, im *imagetest.Image) int64 {
			return indexIn(t, filepath.Join(im.Dir, imagedir.Manifest), `"imagetest"`) + 3
		}, imagedir.Manifest, []string{"bundle"}},
		{"manifest digest", imagedir.Manifest, func(t *testing.T, im *imagetest.Image) int64 {
			return indexIn(t, filepath.Join(im.Dir, imagedir.Manifest), im.Manifest.Artifacts["disk.raw"].SHA256) + 10
		}, imagedir.Manifest, []string{"bundle"}},
		{"bundle signature", imagedir.Bundle, func(t *testing.T, im *imagetest.Image) int64 {
			return indexIn(t, filepath.Join(im.Dir, imagedir.Bundle), `"signature": "`) + 20
		}, imagedir.Bundle, []string{"bundle"}},
		{"bundle digest", imagedir.Bundle, func(t *testing.T, im *imagetest.Image) int64 {
			return indexIn(t, filepath.Join(im.Dir, imagedir.Bundle), `"digest": "`) + 15
		}, imagedir.Bundle, []string{"bundle"}},
		{"bundle hint", imagedir.Bundle, func(t *testing.T, im *imagetest.Image) int64 {
			return indexIn(t, filepath.Join(im.Dir, imagedir.Bundle), `"hint": "`) + 12
		}, imagedir.Bundle, []string{"bundle"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im := imagetest.New(t, imagetest.Options{Seed: uint64(i)})
			imagetest.FlipByte(t, filepath.Join(im.Dir, tt.file), tt.offset(t, im))
			r := mustVerify(t, im.Dir, opts(im))
			err := r.Err()
			if !errors.Is(err, checklist.ErrFailed) {
				t.Fatalf("Err() = %v, want checklist.ErrFailed; checks %+v", err, r.Checks)
			}
			if !strings.Contains(err.Error(), ": "+tt.artifact+" failed verification") {
				t.Errorf("Err() = %q, want it to name only %s", err, tt.artifact)
			}
			var failed []string
			for _, c := range r.Failed() {
				if c.Artifact != tt.artifact {
					t.Errorf("check %s failed on %s too: %s", c.Name, c.Artifact, c.Detail)
				}
				failed = append(failed, c.Name)
			}
			if diff := cmp.Diff(tt.checks, failed); diff != "" {
				t.Errorf("failed checks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTrustAnchors(t *testing.T) {
	im := imagetest.New(t, imagetest.Options{})
	other := imagetest.OtherKeys(t)
	tests := []struct {
		name     string
		o        imagedir.Trust
		artifact string
		detail   string
	}{
		{"other signing key", imagedir.Trust{PublicKey: other.Get(keys.Signing).Public()}, imagedir.Bundle, "another key"},
		{"other db certificate pinned", imagedir.Trust{PublicKey: im.Keys.Get(keys.Signing).Public(), DBCert: other.Get(keys.DB).Cert},
			imagedir.Manifest, "the one given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustVerify(t, im.Dir, tt.o)
			f := r.Failed()
			if len(f) != 1 || f[0].Artifact != tt.artifact || !strings.Contains(f[0].Detail, tt.detail) {
				t.Errorf("failed checks = %+v, want one on %s mentioning %q", f, tt.artifact, tt.detail)
			}
		})
	}
	t.Run("uki signed by another db key", func(t *testing.T) {
		im := imagetest.New(t, imagetest.Options{UKISigner: other.Get(keys.DB)})
		f := mustVerify(t, im.Dir, opts(im)).Failed()
		if len(f) != 1 || f[0].Name != "authenticode" || !strings.Contains(f[0].Detail, "not signed by the db certificate") {
			t.Errorf("failed checks = %+v, want authenticode: not signed by the db certificate", f)
		}
	})
	if _, err := imagedir.Verify(context.Background(), im.Dir, imagedir.Trust{}); err == nil {
		t.Error("Dir without a key succeeded")
	}
}

// TestSignedButWrong: a correctly signed manifest that does not match the
// image (a signer's mistake, or an old manifest) still fails.
func TestSignedButWrong(t *testing.T) {
	other := imagetest.OtherKeys(t)
	tests := []struct {
		name     string
		edit     func(t *testing.T, im *imagetest.Image)
		artifact string
		detail   string
	}{
		{"newer manifest version", func(t *testing.T, im *imagetest.Image) { im.Manifest.Version = 99 }, imagedir.Manifest, "version 99"},
		{"disk not listed", func(t *testing.T, im *imagetest.Image) { delete(im.Manifest.Artifacts, "disk.raw") }, "disk.raw", "does not list"},
		{"vars not listed", func(t *testing.T, im *imagetest.Image) { delete(im.Manifest.Artifacts, "OVMF_VARS.fd") }, "OVMF_VARS.fd", "does not list"},
		{"path outside", func(t *testing.T, im *imagetest.Image) {
			im.Manifest.Artifacts["../x"] = manifest.File{SHA256: "00", Size: 1}
		}, "../x", "not a plain file name"},
		{"missing file", func(t *testing.T, im *imagetest.Image) {
			im.Manifest.Artifacts["config.img"] = manifest.File{SHA256: "00", Size: 1}
		}, "config.img", "no such file"},
		{"other root hash", func(t *testing.T, im *imagetest.Image) {
			im.Manifest.Root.RootHash = strings.Repeat("ab", 32)
		}, "disk.raw", "not the halves"},
		{"no root hash", func(t *testing.T, im *imagetest.Image) { im.Manifest.Root.RootHash = "" }, imagedir.Manifest, "not a hex digest"},
		{"other db key", func(t *testing.T, im *imagetest.Image) { im.Manifest.Keys.DB = other.Get(keys.DB).Fingerprint() }, "uki.efi", "not signed by the db certificate"},
		{"other authenticode digest", func(t *testing.T, im *imagetest.Image) { im.Manifest.UKI.Authenticode = strings.Repeat("0", 64) }, "uki.efi", "Authenticode digest"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im := imagetest.New(t, imagetest.Options{Seed: uint64(100 + i)})
			tt.edit(t, im)
			im.Resign(t)
			r := mustVerify(t, im.Dir, opts(im))
			f := r.Failed()
			if len(f) != 1 || f[0].Artifact != tt.artifact || !strings.Contains(f[0].Detail, tt.detail) {
				t.Errorf("failed checks = %+v, want one on %s mentioning %q", f, tt.artifact, tt.detail)
			}
		})
	}
}

// BenchmarkVerifyDir verifies a whole small image directory (72 MB sparse
// disk, signed imagedir.UKI); bytes/s counts the files hashed.
func BenchmarkVerifyDir(b *testing.B) {
	im := imagetest.New(b, imagetest.Options{})
	var n int64
	for _, f := range im.Manifest.Artifacts {
		n += f.Size
	}
	b.SetBytes(n)
	for b.Loop() {
		r, err := imagedir.Verify(context.Background(), im.Dir, opts(im))
		if err != nil || r.Err() != nil {
			b.Fatal(err, r.Err())
		}
	}
}

func TestVerifyBundleMissing(t *testing.T) {
	im := imagetest.New(t, imagetest.Options{})
	os.Remove(filepath.Join(im.Dir, imagedir.Bundle))
	err := imagedir.VerifyBundle(im.Dir, im.Keys.Get(keys.Signing).Public())
	if err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Fatalf("VerifyBundle = %v, want 'not signed'", err)
	}
}
