package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/boot/init/internal/dm"
	"github.com/hardenvm/hardenvm/pkg/adminsettings"
	"github.com/hardenvm/hardenvm/pkg/configpart"
	"github.com/hardenvm/hardenvm/pkg/verity"
	"golang.org/x/sys/unix"
)

// configName is the device-mapper name of the verified config.
const configName = "config"

// configMount is where the verified config is mounted in the root.
const configMount = adminsettings.ConfigMount

// verifiedConfig is a config partition whose signature and contents
// checked out, mapped through dm-verity.
type verifiedConfig struct {
	rootHash []byte // its verity root hash, measured into PCR 15
	dev      string // the dm-verity device to mount
	part     string // the partition, for messages
}

// handleConfig verifies the config partition, if there is one, and maps
// it through dm-verity: the admin signature over the root hash with the
// certificate baked into the (signed) initramfs, then every block of the
// image and tree against that root hash (the partition is small, and a
// clear line now beats an I/O error at mount time), then the kernel
// table with the same corruption policy as the root. Without a config
// partition there is nothing to verify or measure and the engine, whose
// daemon.json lives there, does not start. Any failure is fatal: an
// unverified config is never mounted.
func handleConfig(d *bootDisk, policy string) (*verifiedConfig, error) {
	if d.config == nil {
		say("no config partition on %s: nothing to verify, none mounted", d.name)
		return nil, nil
	}
	certPEM, err := os.ReadFile("/" + bootparams.AdminCertPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("config partition %s: the initramfs has no admin certificate to verify it", d.config.dev)
	}
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(certPEM)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("/%s is not a PEM certificate", bootparams.AdminCertPath)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("/%s: %w", bootparams.AdminCertPath, err)
	}
	f, err := os.Open(d.config.dev)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	l, err := configpart.Verify(context.Background(), f, d.config.size, cert)
	if err != nil {
		return nil, fmt.Errorf("config partition %s: %w", d.config.dev, err)
	}
	dev, err := majMin(d.config.dev)
	if err != nil {
		return nil, err
	}
	line := verity.Table(dev, dev, l.Verity, policy)
	fs := strings.SplitN(line, " ", 4)
	var length uint64
	fmt.Sscan(fs[1], &length)
	ctl, err := dm.Open()
	if err != nil {
		return nil, fmt.Errorf("device mapper: %w", err)
	}
	defer ctl.Close()
	num, err := ctl.Create(configName, "HARDENVM-CONFIG-"+hex.EncodeToString(l.Verity.RootHash))
	if err != nil {
		return nil, err
	}
	if err := ctl.Load(configName, true, []dm.Target{{Start: 0, Length: length, Type: fs[2], Params: fs[3]}}); err != nil {
		ctl.Remove(configName)
		return nil, fmt.Errorf("config partition %s: %w", d.config.dev, err)
	}
	if err := ctl.Resume(configName); err != nil {
		ctl.Remove(configName)
		return nil, err
	}
	node := "/dev/mapper/" + configName
	if err := unix.Mknod(node, unix.S_IFBLK|0o600, int(num)); err != nil {
		return nil, fmt.Errorf("creating %s: %w", node, err)
	}
	say("config verified %x (signed by admin certificate %s)", l.Verity.RootHash, l.Signature.CertificateFingerprint)
	return &verifiedConfig{rootHash: l.Verity.RootHash, dev: node, part: d.config.dev}, nil
}

// mountConfig mounts the verified config read-only, nosuid, nodev, noexec
// at configMount in the new root (on its /run tmpfs, so it moves with the
// root) and validates the settings again: a config that fails stops the
// boot, whoever signed it.
func mountConfig(cfg *verifiedConfig) error {
	dir := sysroot + configMount
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	flags := uintptr(unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if err := unix.Mount(cfg.dev, dir, "erofs", flags, ""); err != nil {
		return fmt.Errorf("mounting the verified config %s (erofs, read-only): %w", cfg.dev, err)
	}
	if err := validateConfig(dir); err != nil {
		return fmt.Errorf("config partition %s: %w", cfg.part, err)
	}
	say("config mounted read-only at %s", configMount)
	return nil
}

// validateConfig runs the build's validation again on the mounted files:
// the settings parse and pass, daemon.json is the one they generate (so
// the engine runs with exactly the checked options), and the TLS material
// is there when the engine listens on TCP.
func validateConfig(dir string) error {
	raw, err := os.ReadFile(filepath.Join(dir, adminsettings.SettingsFile))
	if err != nil {
		return err
	}
	s, err := adminsettings.Parse(raw)
	if err != nil {
		return err
	}
	want, err := s.DaemonJSON()
	if err != nil {
		return err
	}
	got, err := os.ReadFile(filepath.Join(dir, adminsettings.DaemonFile))
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%s is not the one %s gives: rebuild the config with 'hardenvm config build'", adminsettings.DaemonFile, adminsettings.SettingsFile)
	}
	if s.NeedsTLS() {
		for _, f := range []string{adminsettings.CAFile, adminsettings.ServerCertFile, adminsettings.ServerKeyFile} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				return fmt.Errorf("the engine listens on TCP but the config has no %s", f)
			}
		}
	}
	return nil
}
