package main

import (
	"errors"
	"os"

	"github.com/hardenvm/hardenvm/boot/bootparams"
)

// verifiedConfig is a config partition whose signature checked out.
type verifiedConfig struct {
	rootHash []byte // its verity root hash, measured into PCR 15
	dev      string // the verified (dm-verity) device to mount
}

// configVerifier checks a config partition with the admin certificate
// baked into the initramfs and maps it. The config partition's format is
// defined with the config issue; until then there is no verifier, and a
// config partition is never mounted.
type configVerifier interface {
	Verify(part *partition, adminCert []byte) (*verifiedConfig, error)
}

// verifier is nil until the config partition format exists.
var verifier configVerifier

// errNoVerifier explains why a present config partition is left alone.
var errNoVerifier = errors.New("this init cannot verify config partitions yet")

// handleConfig verifies and mounts the config partition, if there is one.
// Without one there is nothing to verify or measure; stage 1 says so. A
// partition that is present but cannot be verified is never mounted.
func handleConfig(d *bootDisk) (*verifiedConfig, error) {
	cert, err := os.ReadFile("/" + bootparams.AdminCertPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if d.config == nil {
		say("no config partition on %s: nothing to verify, none mounted", d.name)
		return nil, nil
	}
	if verifier == nil {
		say("config partition %s left unmounted: %v", d.config.dev, errNoVerifier)
		return nil, nil
	}
	if cert == nil {
		return nil, errors.New("the disk has a config partition but the initramfs has no admin certificate to verify it")
	}
	cfg, err := verifier.Verify(d.config, cert)
	if err != nil {
		return nil, err
	}
	return cfg, mountConfig(cfg)
}

// configMount is where the verified config is mounted in the root.
const configMount = "/run/hardenvm/config"

func mountConfig(cfg *verifiedConfig) error {
	return errors.New("mounting the config partition: not implemented")
}
