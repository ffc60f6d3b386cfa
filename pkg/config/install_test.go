package config

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/pkg/adminsettings"
	"github.com/hardenvm/hardenvm/pkg/disk"
	"github.com/hardenvm/hardenvm/pkg/fat"
	"github.com/hardenvm/hardenvm/pkg/gpt"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/provenance"
	"github.com/hardenvm/hardenvm/pkg/sign"
)

// imageDir makes a small signed image directory whose disk has a config
// partition holding cfg.
func imageDir(t *testing.T, set *keys.Set, cfg *Image) string {
	t.Helper()
	work := t.TempDir()
	root, hash := filepath.Join(work, "root"), filepath.Join(work, "verity")
	rb, hb := make([]byte, 3<<20), make([]byte, 64<<10)
	rand.Read(rb)
	rand.Read(hb)
	os.WriteFile(root, rb, 0o644)
	os.WriteFile(hash, hb, 0o644)
	cfgPath := filepath.Join(work, "config.img")
	if err := cfg.Write(cfgPath); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	uki := bytes.Repeat([]byte("UKI!"), 1000)
	rootHash := make([]byte, 32)
	rand.Read(rootHash)
	res, err := disk.Build(filepath.Join(dir, "disk.raw"), disk.Image{
		ESP:  []fat.File{{Path: "EFI/BOOT/BOOTX64.EFI", Size: int64(len(uki)), Data: bytes.NewReader(uki)}},
		Time: epoch, Root: root, RootVerity: hash, RootHash: rootHash,
		Config: cfgPath, ConfigSize: 4 << 20, Free: 1 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := manifest.HashFile(filepath.Join(dir, "disk.raw"))
	if err != nil {
		t.Fatal(err)
	}
	m := &manifest.Manifest{Version: manifest.Version, Name: "t", Artifacts: map[string]manifest.File{"disk.raw": f},
		Keys: manifest.Keys{Admin: set.Get(keys.Admin).Fingerprint()}, Config: Describe(cfg)}
	m.Disk.Size = res.Size
	if err := m.Write(dir); err != nil {
		t.Fatal(err)
	}
	if err := sign.Sign(dir, set.Get(keys.Signing).Signer); err != nil {
		t.Fatal(err)
	}
	return dir
}

func buildSigned(t *testing.T, settings string, admin *keys.Key) *Image {
	t.Helper()
	var raw []byte
	if settings != "" {
		raw = []byte(settings)
	}
	im, err := Build(context.Background(), Options{Settings: raw, Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Sign(context.Background(), admin); err != nil {
		t.Fatal(err)
	}
	return im
}

func manifestDigest(t *testing.T, path string) string {
	t.Helper()
	f, err := manifest.HashFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return f.SHA256
}

func TestInstall(t *testing.T) {
	ctx := context.Background()
	set := newKeys(t)
	admin := set.Get(keys.Admin)
	dir := imageDir(t, set, buildSigned(t, "", admin))
	diskPath := filepath.Join(dir, "disk.raw")
	before, _ := os.ReadFile(diskPath)
	tbl, err := gpt.ReadFile(diskPath)
	if err != nil {
		t.Fatal(err)
	}

	// The build's provenance vouches for the old disk: Install removes it.
	prov := provenance.Input{Spec: provenance.Resource{Name: "spec.yml"}, Subjects: []provenance.Resource{{Name: "disk.raw", SHA256: manifestDigest(t, diskPath)}}}
	if err := provenance.Write(dir, prov, set.Get(keys.Signing).Signer); err != nil {
		t.Fatal(err)
	}

	next := buildSigned(t, `{"configurationFileVersion":2,"registryAllowList":{"value":["registry.internal:5000"],"locked":true}}`, admin)
	m, err := Install(ctx, dir, next, InstallOptions{Admin: admin, Signing: set.Get(keys.Signing)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, provenance.FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the build's provenance is still there after Install (%v)", err)
	}
	after, _ := os.ReadFile(diskPath)
	if len(after) != len(before) {
		t.Fatalf("disk size changed: %d -> %d", len(before), len(after))
	}
	var cfg gpt.Partition
	for _, p := range tbl.Partitions {
		if p.Name == disk.NameConfig {
			cfg = p
		}
	}
	off, size := cfg.Offset(gpt.SectorSize), cfg.Size(gpt.SectorSize)
	// Everything outside the config partition, the GPT included, is byte-identical.
	if !bytes.Equal(before[:off], after[:off]) || !bytes.Equal(before[off+size:], after[off+size:]) {
		t.Error("Install changed bytes outside the config partition")
	}
	part := after[off : off+size]
	if !bytes.Equal(part[:len(next.Bytes)], next.Bytes) || bytes.Count(part[len(next.Bytes):], []byte{0}) != len(part)-len(next.Bytes) {
		t.Error("the config partition does not hold exactly the new image followed by zeros")
	}
	if _, err := Verify(ctx, part, admin.Cert); err != nil {
		t.Errorf("Verify(installed partition) = %v", err)
	}
	if m.Config.RootHash != next.Layout.Signature.RootHash {
		t.Errorf("manifest config root hash %s, want %s", m.Config.RootHash, next.Layout.Signature.RootHash)
	}
	if err := sign.VerifyBundle(dir, set.Get(keys.Signing).Public()); err != nil {
		t.Errorf("the re-signed manifest does not verify: %v", err)
	}
	f, _ := manifest.HashFile(diskPath)
	if m.Artifacts["disk.raw"].SHA256 != f.SHA256 {
		t.Error("the manifest's disk.raw digest is stale")
	}

	// Refusals leave the disk as it is.
	other := newKeys(t)
	for _, tt := range []struct {
		name string
		im   *Image
		o    InstallOptions
		want string
	}{
		{"signed by another admin", buildSigned(t, "", other.Get(keys.Admin)), InstallOptions{Admin: admin, Signing: set.Get(keys.Signing)}, "not signed by the admin key"},
		{"image trusts another admin", buildSigned(t, "", other.Get(keys.Admin)), InstallOptions{Admin: other.Get(keys.Admin), Signing: set.Get(keys.Signing)}, "would not boot"},
		{"other signing key", next, InstallOptions{Admin: admin, Signing: other.Get(keys.Signing)}, "refusing to re-sign"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Install(ctx, dir, tt.im, tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Install = %v, want an error containing %q", err, tt.want)
			}
			now, _ := os.ReadFile(diskPath)
			if !bytes.Equal(now, after) {
				t.Error("a refused install changed disk.raw")
			}
		})
	}
}

// TestDiskSettings reads the admin settings back from an image's disk, as
// hardenvm run does before it boots; a corrupted config is an error, not
// the default.
func TestDiskSettings(t *testing.T) {
	set := newKeys(t)
	const settings = `{"configurationFileVersion":2,"filesharingAllowedDirectories":[{"path":"$HOME","sharedByDefault":true},{"path":"/srv"}]}`
	dir := imageDir(t, set, buildSigned(t, settings, set.Get(keys.Admin)))
	p := filepath.Join(dir, "disk.raw")
	s, err := DiskSettings(context.Background(), p)
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
		if part.Name == disk.NameConfig {
			f, _ := os.OpenFile(p, os.O_RDWR, 0)
			b := make([]byte, 1)
			off := part.Offset(gpt.SectorSize) + 2048
			f.ReadAt(b, off)
			b[0] ^= 1
			f.WriteAt(b, off)
			f.Close()
		}
	}
	if _, err := DiskSettings(context.Background(), p); err == nil {
		t.Error("DiskSettings of a corrupted config partition succeeded")
	}
}
