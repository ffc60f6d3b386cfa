// Package imagedir is the built image directory: the one place that names
// its files, opens it, reads its artifacts within bounds, verifies it
// against the artifact-signing key, describes it (Inspect), predicts its
// measured boot from its own artifacts (Load), and swaps a new config
// partition into it (Install).
//
// An image directory holds:
//
//	disk.raw                  the GPT disk: ESP with the signed UKI, EROFS root, dm-verity tree, config partition
//	disk.qcow2, disk.vhdx     the same disk as qcow2 and VHDX, when the build was asked for them (formats.go)
//	uki.efi                   the signed unified kernel image (also on the ESP)
//	OVMF_VARS.fd              the firmware variable store with the Secure Boot keys enrolled
//	sbom.cdx.json             the CycloneDX SBOM
//	manifest.json             every input and output by digest (pkg/manifest)
//	manifest.sigstore.json    the sigstore bundle over the manifest (pkg/sign)
//	provenance.sigstore.json  signed SLSA provenance (pkg/provenance)
//
// Nothing else names these files: the formats (manifest, sign, sbom,
// provenance) take paths and bytes from here.
package imagedir

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hardenvm/hardenvm/pkg/manifest"
)

// The files of an image directory.
const (
	Disk       = "disk.raw"
	DiskQCOW2  = "disk.qcow2"
	DiskVHDX   = "disk.vhdx"
	UKI        = "uki.efi"
	Vars       = "OVMF_VARS.fd"
	SBOM       = "sbom.cdx.json"
	Manifest   = "manifest.json"
	Bundle     = "manifest.sigstore.json"
	Provenance = "provenance.sigstore.json"
)

// Required are the artifacts the manifest must cover: the files `hardenvm
// run` hands to QEMU.
var Required = []string{Disk, UKI, Vars}

// Size caps of what is read from an image directory into memory.
const (
	MaxManifest   = 16 << 20 // the manifest
	MaxBundle     = 1 << 20  // its sigstore bundle
	MaxUKI        = 1 << 30  // the UKI
	MaxVars       = 64 << 20 // the variable store
	MaxProvenance = 16 << 20 // the provenance bundle: it lists the image's packages, a few hundred KiB
)

// Dir is an opened image directory: its path and its manifest, as read
// (Open does not check the signature: callers that must trust the
// directory Verify it first).
type Dir struct {
	Path     string
	Manifest *manifest.Manifest
}

// Open checks that dir is an image directory and reads its manifest.
func Open(dir string) (*Dir, error) {
	if err := CheckImageDir(dir); err != nil {
		return nil, err
	}
	b, err := ReadArtifact(dir, Manifest, MaxManifest)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	m, err := manifest.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("manifest: %s: %w", filepath.Join(dir, Manifest), err)
	}
	return &Dir{Path: dir, Manifest: m}, nil
}

// Load reads the manifest of the image directory dir (unverified).
func Load(dir string) (*manifest.Manifest, error) {
	d, err := Open(dir)
	if err != nil {
		return nil, err
	}
	return d.Manifest, nil
}

// File is the path of the file name in the directory.
func (d *Dir) File(name string) string { return filepath.Join(d.Path, name) }

// ReadUKI reads the UKI.
func (d *Dir) ReadUKI() ([]byte, error) { return ReadArtifact(d.Path, UKI, MaxUKI) }

// ReadVars reads the firmware variable store.
func (d *Dir) ReadVars() ([]byte, error) { return ReadArtifact(d.Path, Vars, MaxVars) }

// OpenDisk opens the disk for reading.
func (d *Dir) OpenDisk() (*os.File, error) { return OpenArtifact(d.Path, Disk) }

// RootHash is the root file system's verity root hash the manifest states.
func (d *Dir) RootHash() ([]byte, error) {
	h, err := hex.DecodeString(d.Manifest.Root.RootHash)
	if err != nil || len(h) == 0 {
		return nil, fmt.Errorf("%s: root hash %q is not hex", d.File(Manifest), d.Manifest.Root.RootHash)
	}
	return h, nil
}

// ConfigRootHash is the config partition's verity root hash the manifest
// states, nil when the image has none.
func (d *Dir) ConfigRootHash() ([]byte, error) {
	if d.Manifest.Config == nil {
		return nil, nil
	}
	h, err := hex.DecodeString(d.Manifest.Config.RootHash)
	if err != nil || len(h) == 0 {
		return nil, fmt.Errorf("%s: config root hash %q is not hex", d.File(Manifest), d.Manifest.Config.RootHash)
	}
	return h, nil
}

// WriteManifest stores m as dir's manifest, atomically.
func WriteManifest(dir string, m *manifest.Manifest) error {
	return m.WriteFile(filepath.Join(dir, Manifest))
}
