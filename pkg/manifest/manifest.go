// Package manifest describes a built image: every input and output by
// digest, the verity root hash, the signed command line and the UKI's
// sections. It is what `hardenvm verify` checks artifacts against, what
// attestation compares a booted VM with, and what gets signed for
// distribution. The JSON form is stable: fields are only added.
package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
)

// Version of the manifest format.
const Version = 1

// Manifest is the manifest of an image directory (pkg/imagedir).
type Manifest struct {
	Version int    `json:"manifestVersion"`
	Name    string `json:"name"`
	// Arch is the Debian architecture the image is for ("amd64",
	// "arm64"); manifests written before it existed are amd64.
	Arch string `json:"arch,omitempty"`
	// Epoch is SOURCE_DATE_EPOCH of the build, in seconds.
	Epoch int64 `json:"sourceDateEpoch"`
	// Locked images must be verified before they boot: `hardenvm run`
	// refuses --insecure-skip-verify for them.
	Locked bool `json:"locked,omitempty"`
	// Unhardened marks an image built with `hardenvm build
	// --unhardened-for-benchmarks`: its signed command line tells the
	// init to mount the root without dm-verity and the config without
	// its signature, with no TPM (bootparams.UnhardenedParam). It is for
	// benchmarks only: CheckHardened refuses it for verify, attest and
	// push.
	Unhardened bool `json:"unhardened,omitempty"`

	Spec   File      `json:"spec"`
	Lock   File      `json:"lock"`
	Inputs []Package `json:"inputs"`
	// InitBinary is the guest init (stage 1 and 2) baked into the image.
	InitBinary File `json:"init"`
	// Agent is the attestation agent baked into the root, if any.
	Agent *File `json:"agent,omitempty"`

	// Artifacts maps an output's file name in the image directory (the
	// disk, the UKI, the variable store and the SBOM) to its digest.
	Artifacts map[string]File `json:"artifacts"`

	Root      Root      `json:"root"`
	Cmdline   string    `json:"cmdline"`
	UKI       UKI       `json:"uki"`
	Initramfs Initramfs `json:"initramfs"`
	Disk      Disk      `json:"disk"`
	Keys      Keys      `json:"keys"`
	// PCRs is the measured-boot prediction: what a TPM that booted this
	// image holds, and why (pkg/attest computes it from the artifacts).
	PCRs *PCRs `json:"pcrs,omitempty"`
	// Config is the signed config partition (absent when the disk has
	// none). `hardenvm config install` replaces it and re-signs the
	// manifest; the OS entries above stay as they are.
	Config *Config `json:"config,omitempty"`
}

// Config describes the config partition's contents.
type Config struct {
	RootHash   string `json:"rootHash"`     // dm-verity root hash, signed by the admin key; measured into PCR 15
	DataBlocks uint64 `json:"dataBlocks"`   // 4096-byte blocks of the EROFS image
	Size       int64  `json:"size"`         // bytes of the layout (image, tree, signature block)
	SHA256     string `json:"sha256"`       // of those bytes
	Signer     string `json:"signerSha256"` // fingerprint of the admin certificate that signed it
}

// File is a file by digest.
type File struct {
	Path   string `json:"path,omitempty"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// Package is one locked Debian package.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Role    string `json:"role"` // rootfs, kernel or stub
	SHA256  string `json:"sha256"`
}

// Root is the root file system and its dm-verity tree.
type Root struct {
	Format     string `json:"format"` // "erofs"
	Size       int64  `json:"size"`
	UUID       string `json:"uuid"`
	RootHash   string `json:"rootHash"`
	Salt       string `json:"salt"`
	VerityUUID string `json:"verityUUID"`
	DataBlocks uint64 `json:"dataBlocks"`
	HashSize   int64  `json:"hashSize"`
	Corruption string `json:"corruption"`
}

// UKI describes the unified kernel image.
type UKI struct {
	KernelRelease string    `json:"kernelRelease"`
	Sections      []Section `json:"sections"`
	// Authenticode is the SHA-256 Authenticode digest: what the firmware
	// checks the signature against and measures into PCR 4.
	Authenticode string `json:"authenticodeSha256"`
	Signer       string `json:"signerSha256"` // fingerprint of the db certificate
}

// Section is one PE section of the UKI.
type Section struct {
	Name        string `json:"name"`
	VirtualSize uint32 `json:"virtualSize"`
	SHA256      string `json:"sha256"`
}

// Initramfs describes the initramfs inside the UKI.
type Initramfs struct {
	SHA256  string   `json:"sha256"`
	Size    int64    `json:"size"`
	Modules []string `json:"modules"`
}

// Disk is the GPT disk.
type Disk struct {
	GUID       string      `json:"guid"`
	Size       int64       `json:"size"`
	Partitions []Partition `json:"partitions"`
}

// Partition is one GPT entry.
type Partition struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	GUID       string `json:"guid"`
	FirstLBA   uint64 `json:"firstLBA"`
	LastLBA    uint64 `json:"lastLBA"`
	Attributes uint64 `json:"attributes"`
}

// Keys are the fingerprints of the keys the image trusts.
type Keys struct {
	PK    string `json:"pk"`
	KEK   string `json:"kek"`
	DB    string `json:"db"`
	Admin string `json:"admin"`
}

// Marshal is the canonical JSON form (indented, trailing newline).
func (m *Manifest) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// WriteFile stores m at path, atomically.
func (m *Manifest) WriteFile(path string) error {
	b, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	return atomicfile.WriteFile(path, b, 0o644)
}

// Parse decodes a manifest's bytes.
func Parse(b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	if m.Version != Version {
		return nil, fmt.Errorf("version %d, this hardenvm reads version %d", m.Version, Version)
	}
	return &m, nil
}

// HashFile returns the digest of the file at path.
func HashFile(path string) (File, error) {
	f, err := os.Open(path)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return File{}, fmt.Errorf("hashing %s: %w", path, err)
	}
	return File{SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// HashBytes returns the digest of b.
func HashBytes(b []byte) File {
	s := sha256.Sum256(b)
	return File{SHA256: hex.EncodeToString(s[:]), Size: int64(len(b))}
}

// PCRs is the prediction of the image's measured boot in one PCR bank.
// Values covers the PCRs the image alone decides (4, 5, 7, 9, 11, 15; 5
// as on the first boot);
// Events lists every event behind them, in log order, each with what it
// stands for, so a verifier can name what differs. Firmware holds golden
// values of the firmware-dependent PCRs (0–3, 6), recorded from a
// known-good boot, keyed by the SHA-256 of the firmware code image.
type PCRs struct {
	Bank     string                       `json:"bank"` // "sha256"
	Values   map[string]string            `json:"values"`
	Events   []PCREvent                   `json:"events"`
	Firmware map[string]map[string]string `json:"firmware,omitempty"`
	// GPT is the disk's UEFI_GPT_DATA in hex, as the firmware measures it
	// into PCR 5, so a verifier can tell the data partition added on the
	// first boot from any other change.
	GPT string `json:"gptEvent,omitempty"`
}

// PCREvent is one predicted measurement.
type PCREvent struct {
	PCR int `json:"pcr"`
	// Type is the TCG event type name (EV_IPL, EV_SEPARATOR, …), or
	// "hardenvm" for PCR 15, whose log is the init's own.
	Type   string `json:"type"`
	SHA256 string `json:"sha256"` // the extended digest
	// What the event stands for ("the UKI (Authenticode)", "db", …).
	What string `json:"what"`
}

// Architecture is the image's Debian architecture: Arch, or amd64 for
// manifests that predate it.
func (m *Manifest) Architecture() string {
	if m.Arch == "" {
		return "amd64"
	}
	return m.Arch
}

// ErrUnhardened is the error of CheckHardened.
var ErrUnhardened = errors.New(`an unhardened benchmark image ("unhardened": true: built with --unhardened-for-benchmarks; its root has no dm-verity, its config no signature check, its boot no Secure Boot or TPM): it never verifies, attests or ships; build it again without that flag`)

// CheckHardened refuses an unhardened image: commands that vouch for an
// image (verify, attest, push) call it before anything else.
func (m *Manifest) CheckHardened() error {
	if m.Unhardened {
		return ErrUnhardened
	}
	return nil
}
