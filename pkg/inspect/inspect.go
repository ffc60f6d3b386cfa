// Package inspect reports what an image holds: the GPT partitions, the
// root hash (read back from the partition UUIDs and checked against the
// verity superblock), and the UKI's sections and signer. It only reads.
package inspect

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hardenvm/hardenvm/internal/readfile"
	"github.com/hardenvm/hardenvm/pkg/authenticode"
	"github.com/hardenvm/hardenvm/pkg/gpt"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/uki"
	"github.com/hardenvm/hardenvm/pkg/verity"
)

// Report is what Inspect found.
type Report struct {
	Disk       string      `json:"disk"`
	DiskGUID   string      `json:"diskGUID"`
	Partitions []Partition `json:"partitions"`
	RootHash   string      `json:"rootHash,omitempty"`
	Verity     *Verity     `json:"verity,omitempty"`
	UKI        *UKI        `json:"uki,omitempty"`
	// Problems are damage noticed while reading (a damaged primary or
	// missing backup GPT header); the rest of the report is what could
	// still be read.
	Problems []string `json:"problems,omitempty"`
	// Manifest is set when inspecting an image directory.
	Manifest *manifest.Manifest `json:"-"`
}

// Partition is one GPT entry, with its well-known role.
type Partition struct {
	Number     int    `json:"number"`
	Name       string `json:"name"`
	Role       string `json:"role"`
	Type       string `json:"type"`
	GUID       string `json:"guid"`
	Offset     int64  `json:"offset"`
	Size       int64  `json:"size"`
	ReadOnly   bool   `json:"readOnly"`
	Attributes uint64 `json:"attributes"`
}

// Verity is the root-verity partition's superblock.
type Verity struct {
	UUID          string `json:"uuid"`
	Algorithm     string `json:"algorithm"`
	DataBlockSize uint32 `json:"dataBlockSize"`
	HashBlockSize uint32 `json:"hashBlockSize"`
	DataBlocks    uint64 `json:"dataBlocks"`
	Salt          string `json:"salt"` // hex
}

// UKI describes uki.efi.
type UKI struct {
	Path     string            `json:"path"`
	Sections []uki.SectionInfo `json:"sections"`
	Digest   string            `json:"authenticodeSha256"`
	Signers  []Signer          `json:"signers"`
}

// Signer is a certificate that signed the UKI.
type Signer struct {
	Subject string `json:"subject"`
	SHA256  string `json:"sha256"`
}

var roles = map[gpt.GUID]string{
	gpt.TypeESP:                 "esp",
	gpt.TypeRootX86_64:          "root",
	gpt.TypeRootVerityX86_64:    "root-verity",
	gpt.TypeRootVeritySigX86_64: "root-verity-sig",
}

// Inspect reads an image directory (disk.raw, uki.efi, manifest.json) or a
// bare disk image.
func Inspect(path string) (*Report, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, manifest.CheckImageDir(path) // the same sentence as every command
	}
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	diskPath, ukiPath := path, ""
	r := &Report{}
	if fi.IsDir() {
		diskPath = filepath.Join(path, "disk.raw")
		ukiPath = filepath.Join(path, "uki.efi")
		if r.Manifest, err = manifest.Load(path); err != nil {
			return nil, err
		}
	}
	r.Disk = diskPath
	if err := inspectDisk(r, diskPath); err != nil {
		return nil, err
	}
	if ukiPath != "" {
		if r.UKI, err = inspectUKI(ukiPath); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func inspectDisk(r *Report, path string) error {
	f, err := readfile.Open(path)
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	t, err := gpt.Read(f, st.Size())
	if err != nil {
		return fmt.Errorf("inspect: %s: %w", path, err)
	}
	r.DiskGUID = t.DiskGUID.String()
	for _, d := range t.Damaged {
		r.Problems = append(r.Problems, path+": "+d)
	}
	var root, ver *gpt.Partition
	for i, p := range t.Partitions {
		role := roles[p.Type]
		if role == "" {
			role = p.Name
		}
		r.Partitions = append(r.Partitions, Partition{
			Number: p.Number, Name: p.Name, Role: role, Type: p.Type.String(), GUID: p.GUID.String(),
			Offset: p.Offset(t.SectorSize), Size: p.Size(t.SectorSize),
			ReadOnly: p.Attributes&gpt.AttrReadOnly != 0, Attributes: p.Attributes,
		})
		switch p.Type {
		case gpt.TypeRootX86_64:
			root = &t.Partitions[i]
		case gpt.TypeRootVerityX86_64:
			ver = &t.Partitions[i]
		}
	}
	if root == nil || ver == nil {
		return nil // not a hardenvm disk: partitions only
	}
	// The Discoverable Partitions rule: the root's UUID is the first half
	// of the root hash, the verity partition's the second.
	r.RootHash = hex.EncodeToString(append(root.GUID[:], ver.GUID[:]...))
	sb, err := verity.ReadSuperblock(io.NewSectionReader(f, ver.Offset(t.SectorSize), ver.Size(t.SectorSize)))
	if err != nil {
		return fmt.Errorf("inspect: %s: root-verity partition: %w", path, err)
	}
	r.Verity = &Verity{UUID: verity.FormatUUID(sb.UUID), Algorithm: sb.Algorithm, DataBlockSize: sb.DataBlockSize,
		HashBlockSize: sb.HashBlockSize, DataBlocks: sb.DataBlocks, Salt: hex.EncodeToString(sb.Salt)}
	return nil
}

func inspectUKI(path string) (*UKI, error) {
	img, err := readfile.ReadFile(path, manifest.MaxUKI)
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	secs, err := uki.Sections(img)
	if err != nil {
		return nil, fmt.Errorf("inspect: %s: %w", path, err)
	}
	d, err := authenticode.Digest(img)
	if err != nil {
		return nil, fmt.Errorf("inspect: %s: %w", path, err)
	}
	u := &UKI{Path: path, Sections: secs, Digest: hex.EncodeToString(d)}
	certs, err := authenticode.Signers(img)
	if err != nil {
		return nil, fmt.Errorf("inspect: %s: %w", path, err)
	}
	for _, c := range certs {
		s := sha256.Sum256(c.Raw)
		u.Signers = append(u.Signers, Signer{Subject: c.Subject.String(), SHA256: hex.EncodeToString(s[:])})
	}
	return u, nil
}

// Cmdline returns the UKI's command line, when the report has a UKI.
func (r *Report) Cmdline() string {
	if r.UKI == nil {
		return ""
	}
	img, err := readfile.ReadFile(r.UKI.Path, manifest.MaxUKI)
	if err != nil {
		return ""
	}
	b, err := uki.Section(img, ".cmdline")
	if err != nil {
		return ""
	}
	return string(bytes.TrimRight(b, "\x00"))
}
