package imagedir_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/internal/buildtest"
	"github.com/hardenvm/hardenvm/pkg/adminsettings"
	"github.com/hardenvm/hardenvm/pkg/configimage"
	"github.com/hardenvm/hardenvm/pkg/gpt"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/pcr"
)

const registrySettings = `{"configurationFileVersion":2,"registryAllowList":{"value":["registry.internal:5000"],"locked":true}}`

func signedConfig(t *testing.T, settings string, admin *keys.Key) *configimage.Image {
	t.Helper()
	var raw []byte
	if settings != "" {
		raw = []byte(settings)
	}
	im, err := configimage.Build(context.Background(), configimage.Options{Settings: raw, Epoch: buildtest.Epoch})
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Sign(context.Background(), admin); err != nil {
		t.Fatal(err)
	}
	return im
}

// readBack is the image as `config install` reads it from a file, with
// the layout found in it (no root hash until verified).
func readBack(t *testing.T, im *configimage.Image) *configimage.Image {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.img")
	if err := im.Write(p); err != nil {
		t.Fatal(err)
	}
	got, err := configimage.ReadImage(p)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// state is every file of an image directory by digest, and the names
// beside it (staging leftovers would show there).
func state(t *testing.T, dir string) map[string]string {
	t.Helper()
	s := buildtest.Digests(t, dir)
	ents, err := os.ReadDir(filepath.Dir(dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		s["../"+e.Name()] = ""
	}
	return s
}

func mustVerifyBuilt(t *testing.T, img *buildtest.Image) {
	t.Helper()
	rep, err := imagedir.Verify(context.Background(), img.Dir, imagedir.Trust{PublicKey: img.Keys.Get(keys.Signing).Public()})
	if err == nil {
		err = rep.Err()
	}
	if err != nil {
		t.Errorf("the image directory does not verify: %v", err)
	}
}

// TestInstall installs a new config into a built image: only the config
// partition changes, and the re-signed image verifies and measures as its
// manifest predicts (PCR 15 carries the new config root hash).
func TestInstall(t *testing.T) {
	ctx := context.Background()
	img := buildtest.Minimal(t)
	admin := img.Keys.Get(keys.Admin)
	diskPath := filepath.Join(img.Dir, imagedir.Disk)
	before, _ := os.ReadFile(diskPath)
	tbl, err := gpt.ReadFile(diskPath)
	if err != nil {
		t.Fatal(err)
	}

	next := signedConfig(t, registrySettings, admin)
	m, err := imagedir.Install(ctx, img.Dir, readBack(t, next), imagedir.InstallOptions{Admin: admin, Signing: img.Keys.Get(keys.Signing)})
	if err != nil {
		t.Fatal(err)
	}
	// The build's provenance vouches for the old disk: Install leaves it
	// out of the new directory.
	if _, err := os.Stat(filepath.Join(img.Dir, imagedir.Provenance)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the build's provenance is still there after Install (%v)", err)
	}
	after, _ := os.ReadFile(diskPath)
	if len(after) != len(before) {
		t.Fatalf("disk size changed: %d -> %d", len(before), len(after))
	}
	var cfg gpt.Partition
	for _, p := range tbl.Partitions {
		if p.Name == bootparams.PartitionConfig {
			cfg = p
		}
	}
	off, size := cfg.Offset(gpt.SectorSize), cfg.Size(gpt.SectorSize)
	if !bytes.Equal(before[:off], after[:off]) || !bytes.Equal(before[off+size:], after[off+size:]) {
		t.Error("Install changed bytes outside the config partition")
	}
	part := after[off : off+size]
	if !bytes.Equal(part[:len(next.Bytes)], next.Bytes) || bytes.Count(part[len(next.Bytes):], []byte{0}) != len(part)-len(next.Bytes) {
		t.Error("the config partition does not hold exactly the new image followed by zeros")
	}
	l, err := configimage.Verify(ctx, part, admin.Cert)
	if err != nil {
		t.Fatalf("Verify(installed partition) = %v", err)
	}
	if m.Config.RootHash != next.Layout.Signature.RootHash {
		t.Errorf("manifest config root hash %s, want %s", m.Config.RootHash, next.Layout.Signature.RootHash)
	}
	mustVerifyBuilt(t, img)
	// measure: the prediction from the artifacts is the signed one, and
	// PCR 15 is the one with the new config root hash.
	got, err := imagedir.Predict(img.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(m.PCRs.Values, got.Values); diff != "" {
		t.Errorf("after install, manifest.json's PCRs differ from the artifacts' (-manifest +artifacts):\n%s", diff)
	}
	d, err := imagedir.Open(img.Dir)
	if err != nil {
		t.Fatal(err)
	}
	in, err := d.PredictionInput()
	if err != nil {
		t.Fatal(err)
	}
	in.ConfigRootHash = l.Verity.RootHash
	want, err := pcr.Predict(in)
	if err != nil {
		t.Fatal(err)
	}
	if m.PCRs.Values["15"] != want.Values["15"] || m.PCRs.Values["15"] == img.Manifest.PCRs.Values["15"] {
		t.Errorf("PCR 15 = %s, want %s (the build's was %s)", m.PCRs.Values["15"], want.Values["15"], img.Manifest.PCRs.Values["15"])
	}

	// Refusals leave the directory as it is.
	other, err := keys.Generate(keys.Options{Now: buildtest.Epoch})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		im   *configimage.Image
		o    imagedir.InstallOptions
		want string
	}{
		{"signed by another admin", signedConfig(t, "", other.Get(keys.Admin)), imagedir.InstallOptions{Admin: admin, Signing: img.Keys.Get(keys.Signing)}, "not signed by the admin key"},
		{"image trusts another admin", signedConfig(t, "", other.Get(keys.Admin)), imagedir.InstallOptions{Admin: other.Get(keys.Admin), Signing: img.Keys.Get(keys.Signing)}, "would not boot"},
		{"other signing key", next, imagedir.InstallOptions{Admin: admin, Signing: other.Get(keys.Signing)}, "refusing to re-sign"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			was := state(t, img.Dir)
			_, err := imagedir.Install(ctx, img.Dir, tt.im, tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Install = %v, want an error containing %q", err, tt.want)
			}
			if diff := cmp.Diff(was, state(t, img.Dir)); diff != "" {
				t.Errorf("a refused install changed the image directory (-before +after):\n%s", diff)
			}
		})
	}
}

// TestInstallAllOrNothing: an install that fails or is cancelled at any
// step, or that finds the image damaged, leaves the directory
// byte-identical, verifying, and with nothing beside it.
func TestInstallAllOrNothing(t *testing.T) {
	img := buildtest.Minimal(t)
	admin, signing := img.Keys.Get(keys.Admin), img.Keys.Get(keys.Signing)
	next := signedConfig(t, registrySettings, admin)
	boom := errors.New("injected failure")
	t.Cleanup(func() { imagedir.StepHook = nil })

	for _, step := range imagedir.InstallSteps {
		for _, how := range []string{"fails", "cancelled"} {
			t.Run(fmt.Sprintf("%s at %s", how, step), func(t *testing.T) {
				was := state(t, img.Dir)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				imagedir.StepHook = func(_ context.Context, s string) error {
					if s != step {
						return nil
					}
					if how == "fails" {
						return boom
					}
					cancel()
					return nil
				}
				_, err := imagedir.Install(ctx, img.Dir, readBack(t, next), imagedir.InstallOptions{Admin: admin, Signing: signing})
				imagedir.StepHook = nil
				if err == nil || strings.Contains(err.Error(), "\n") {
					t.Fatalf("Install = %v, want a one-line error", err)
				}
				if diff := cmp.Diff(was, state(t, img.Dir)); diff != "" {
					t.Errorf("the image directory changed (-before +after):\n%s", diff)
				}
				mustVerifyBuilt(t, img)
			})
		}
	}

	// A damaged image is refused before anything is written, not
	// re-signed.
	uki := filepath.Join(img.Dir, "uki.efi")
	b, err := os.ReadFile(uki)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	os.WriteFile(uki, b, 0o644)
	was := state(t, img.Dir)
	_, err = imagedir.Install(context.Background(), img.Dir, readBack(t, next), imagedir.InstallOptions{Admin: admin, Signing: signing})
	if err == nil || !strings.Contains(err.Error(), "does not verify") || !strings.Contains(err.Error(), "uki.efi") {
		t.Errorf("Install on a tampered uki.efi = %v, want a refusal naming it", err)
	}
	if diff := cmp.Diff(was, state(t, img.Dir)); diff != "" {
		t.Errorf("the refused install changed the image directory (-before +after):\n%s", diff)
	}
	if err := imagedir.VerifyBundle(img.Dir, signing.Public()); err != nil {
		t.Errorf("the bundle no longer verifies: %v", err)
	}
}

// TestDiskSettings reads the admin settings back from an image's disk, as
// hardenvm run does before it boots; a corrupted config is an error, not
// the default.
func TestDiskSettings(t *testing.T) {
	img := buildtest.Minimal(t)
	admin, signing := img.Keys.Get(keys.Admin), img.Keys.Get(keys.Signing)
	const settings = `{"configurationFileVersion":2,"filesharingAllowedDirectories":[{"path":"$HOME","sharedByDefault":true},{"path":"/srv"}]}`
	if _, err := imagedir.Install(context.Background(), img.Dir, readBack(t, signedConfig(t, settings, admin)), imagedir.InstallOptions{Admin: admin, Signing: signing}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(img.Dir, imagedir.Disk)
	s, err := configimage.DiskSettings(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.AllowedShareDirs(adminsettings.HostDirs{Home: "/home/a"}); strings.Join(got, " ") != "/home/a /srv" {
		t.Errorf("DiskSettings: allowed share dirs %q, want /home/a /srv", got)
	}
	// Flip one byte of the config's data.
	tab, err := gpt.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range tab.Partitions {
		if part.Name == bootparams.PartitionConfig {
			f, _ := os.OpenFile(p, os.O_RDWR, 0)
			b := make([]byte, 1)
			off := part.Offset(gpt.SectorSize) + 2048
			f.ReadAt(b, off)
			b[0] ^= 1
			f.WriteAt(b, off)
			f.Close()
		}
	}
	if _, err := configimage.DiskSettings(context.Background(), p); err == nil {
		t.Error("DiskSettings of a corrupted config partition succeeded")
	}
}
