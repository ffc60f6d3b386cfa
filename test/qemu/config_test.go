package qemu

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/pkg/configimage"
	"github.com/hardenvm/hardenvm/pkg/gpt"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/keys"
)

// configImage builds a config image from settings ("" for the default),
// signed by the admin key in keyDir.
func configImage(t *testing.T, settings, keyDir string) *configimage.Image {
	t.Helper()
	var raw []byte
	if settings != "" {
		raw = []byte(settings)
	}
	im, err := configimage.Build(context.Background(), configimage.Options{Settings: raw, Epoch: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := keys.LoadRole(keyDir, keys.Admin)
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Sign(context.Background(), admin); err != nil {
		t.Fatal(err)
	}
	return im
}

// withConfigBytes copies disk.raw with its config partition replaced by b
// (written raw, past any check `hardenvm config install` makes).
func withConfigBytes(t *testing.T, src string, edit func(part []byte)) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := gpt.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tbl.Partitions {
		if p.Name == bootparams.PartitionConfig {
			off := p.Offset(gpt.SectorSize)
			edit(b[off : off+p.Size(gpt.SectorSize)])
			out := filepath.Join(t.TempDir(), "disk.raw")
			if err := os.WriteFile(out, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	t.Fatal("the built disk has no config partition")
	return ""
}

// TestConfigPartition boots the minimal image with its config partition:
// verified, mounted read-only (nosuid, nodev, noexec), measured into PCR
// 15, out of the console's reach; then the same OS with a config signed by
// another admin key, and with one byte of the config changed: the init
// stops the boot with one FATAL line; and with a re-signed config
// installed by `hardenvm config install`, which boots with the new root
// hash while the OS partitions stay byte-identical.
func TestConfigPartition(t *testing.T) {
	requireQEMU(t)
	keysA, keysB := newKeys(t), newKeys(t)
	img := buildMinimal(t, keysA)
	m0, err := imagedir.Load(img)
	if err != nil {
		t.Fatal(err)
	}
	if m0.Config == nil {
		t.Fatal("the manifest has no config partition")
	}
	diskPath, vars := filepath.Join(img, imagedir.Disk), filepath.Join(img, imagedir.Vars)

	t.Run("verified and read-only", func(t *testing.T) {
		m := bootImage(t, diskPath, vars)
		expect(t, m, 6*time.Minute, `hardenvm-init: config verified `+m0.Config.RootHash)
		expect(t, m, time.Minute, `hardenvm-init: config mounted read-only at /run/hardenvm/config`)
		expect(t, m, 3*time.Minute, `hardenvm-init: READY`)
		opts := ask(t, m, "CFGMOUNT", "grep ' /run/hardenvm/config ' /proc/mounts")
		for _, o := range []string{"erofs", "ro,", "nosuid", "nodev", "noexec", "/dev/mapper/config"} {
			if !regexp.MustCompile(regexp.QuoteMeta(o)).MatchString(opts) {
				t.Errorf("config mount %q lacks %s", opts, o)
			}
		}
		if got := ask(t, m, "CFGREAD", "grep -c configurationFileVersion /run/hardenvm/config/admin-settings.json"); got != "1" {
			t.Errorf("reading the settings from the console: %q", got)
		}
		for _, c := range []struct{ key, cmd string }{
			{"CFGWRITE", "echo x >> /run/hardenvm/config/admin-settings.json"},
			{"CFGNEW", "touch /run/hardenvm/config/new"},
			{"CFGREMOUNT", "mount -o remount,rw /run/hardenvm/config"},
			{"CFGBIND", "mount --bind /tmp /run/hardenvm/config"},
			{"CFGUMOUNT", "umount /run/hardenvm/config"},
		} {
			if got := ask(t, m, c.key, c.cmd+" >/dev/null 2>&1 && echo allowed || echo refused"); got != "refused" {
				t.Errorf("console: %q was %s", c.cmd, got)
			}
		}
	})

	other := configImage(t, "", keysB)
	flipped := withConfigBytes(t, diskPath, func(part []byte) {
		// One byte of admin-settings.json as stored in the EROFS image.
		i := bytes.Index(part, []byte("configurationFileVersion"))
		if i < 0 {
			t.Fatal("admin-settings.json is not in the config partition")
		}
		part[i] ^= 0x20
	})
	for _, tt := range []struct{ name, disk, fatal string }{
		{"signed by another admin key", withConfigBytes(t, diskPath, func(part []byte) {
			clear(part)
			copy(part, other.Bytes)
		}), `hardenvm-init: FATAL: config partition /dev/\S+: the config partition is not signed by the admin key`},
		{"one byte changed", flipped, `hardenvm-init: FATAL: config partition /dev/\S+: the contents do not match the signed root hash`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := bootImage(t, tt.disk, vars)
			expect(t, m, 6*time.Minute, tt.fatal)
			out := m.Console().Output()
			for _, bad := range []string{"config verified", "READY"} {
				if regexp.MustCompile(regexp.QuoteMeta(bad)).MatchString(out) {
					t.Errorf("the console shows %q after a bad config", bad)
				}
			}
		})
	}

	t.Run("installed re-signed config", func(t *testing.T) {
		next := configImage(t, `{"configurationFileVersion":2,"registryAllowList":{"value":["registry.internal:5000"],"locked":true}}`, keysA)
		admin, _ := keys.LoadRole(keysA, keys.Admin)
		signing, _ := keys.LoadRole(keysA, keys.Signing)
		if _, err := imagedir.Install(context.Background(), img, next, imagedir.InstallOptions{Admin: admin, Signing: signing}); err != nil {
			t.Fatal(err)
		}
		m1, _ := imagedir.Load(img)
		if m1.Root != m0.Root || m1.UKI.Authenticode != m0.UKI.Authenticode || m1.Config.RootHash == m0.Config.RootHash {
			t.Errorf("after install: root %v -> %v, UKI %s -> %s, config %s -> %s", m0.Root, m1.Root,
				m0.UKI.Authenticode, m1.UKI.Authenticode, m0.Config.RootHash, m1.Config.RootHash)
		}
		m := bootImage(t, diskPath, vars)
		expect(t, m, 6*time.Minute, `hardenvm-init: config verified `+hex.EncodeToString(next.Layout.Verity.RootHash))
		expect(t, m, 3*time.Minute, `hardenvm-init: READY`)
		if got := ask(t, m, "CFGREG", "grep -c registry.internal /run/hardenvm/config/runtime.json"); got != "1" {
			t.Errorf("runtime.json after install: registry.internal found %q times", got)
		}
	})
}
