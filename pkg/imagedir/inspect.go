package imagedir

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/hardenvm/hardenvm/internal/readfile"
	"github.com/hardenvm/hardenvm/pkg/authenticode"
	"github.com/hardenvm/hardenvm/pkg/gpt"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/uki"
	"github.com/hardenvm/hardenvm/pkg/verity"
)

// Inspection is what Inspect found in an image: the GPT partitions, the
// root hash (read back from the partition UUIDs, with the verity
// superblock), and the UKI's sections and signer.
type Inspection struct {
	Disk       string          `json:"disk"`
	DiskGUID   string          `json:"diskGUID"`
	Partitions []PartitionInfo `json:"partitions"`
	// Arch is the architecture of the root partition's type ("amd64",
	// "arm64"), empty for a disk without one.
	Arch     string      `json:"arch,omitempty"`
	RootHash string      `json:"rootHash,omitempty"`
	Verity   *VerityInfo `json:"verity,omitempty"`
	UKI      *UKIInfo    `json:"uki,omitempty"`
	// Problems are damage noticed while reading (a damaged primary or
	// missing backup GPT header); the rest of the report is what could
	// still be read.
	Problems []string `json:"problems,omitempty"`
	// Manifest is set when inspecting an image directory.
	Manifest *manifest.Manifest `json:"-"`
}

// PartitionInfo is one GPT entry, with its well-known role.
type PartitionInfo struct {
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

// VerityInfo is the root-verity partition's superblock.
type VerityInfo struct {
	UUID          string `json:"uuid"`
	Algorithm     string `json:"algorithm"`
	DataBlockSize uint32 `json:"dataBlockSize"`
	HashBlockSize uint32 `json:"hashBlockSize"`
	DataBlocks    uint64 `json:"dataBlocks"`
	Salt          string `json:"salt"` // hex
}

// UKIInfo describes the UKI.
type UKIInfo struct {
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

// role names a partition by its type: "esp", or a root type's role
// (gpt.RootRole, any architecture) with the architecture it is for.
func role(t gpt.GUID) (role, arch string) {
	if t == gpt.TypeESP {
		return "esp", ""
	}
	role, arch, _ = gpt.RootRole(t)
	return role, arch
}

// Inspect reads an image directory (its disk, UKI and manifest) or a bare
// disk image. It only reads.
func Inspect(path string) (*Inspection, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, CheckImageDir(path) // the same sentence as every command
	}
	if err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	diskPath, ukiPath := path, ""
	r := &Inspection{}
	if fi.IsDir() {
		d, err := Open(path)
		if err != nil {
			return nil, err
		}
		diskPath, ukiPath, r.Manifest = d.File(Disk), d.File(UKI), d.Manifest
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

func inspectDisk(r *Inspection, path string) error {
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
		role, a := role(p.Type)
		if role == "" {
			role = p.Name
		}
		if role == "root" {
			r.Arch = a
		}
		r.Partitions = append(r.Partitions, PartitionInfo{
			Number: p.Number, Name: p.Name, Role: role, Type: p.Type.String(), GUID: p.GUID.String(),
			Offset: p.Offset(t.SectorSize), Size: p.Size(t.SectorSize),
			ReadOnly: p.Attributes&gpt.AttrReadOnly != 0, Attributes: p.Attributes,
		})
		switch role {
		case "root":
			root = &t.Partitions[i]
		case "root-verity":
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
	r.Verity = &VerityInfo{UUID: verity.FormatUUID(sb.UUID), Algorithm: sb.Algorithm, DataBlockSize: sb.DataBlockSize,
		HashBlockSize: sb.HashBlockSize, DataBlocks: sb.DataBlocks, Salt: hex.EncodeToString(sb.Salt)}
	return nil
}

func inspectUKI(path string) (*UKIInfo, error) {
	img, err := readfile.ReadFile(path, MaxUKI)
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
	u := &UKIInfo{Path: path, Sections: secs, Digest: hex.EncodeToString(d)}
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
func (r *Inspection) Cmdline() string {
	if r.UKI == nil {
		return ""
	}
	img, err := readfile.ReadFile(r.UKI.Path, MaxUKI)
	if err != nil {
		return ""
	}
	b, err := uki.Section(img, ".cmdline")
	if err != nil {
		return ""
	}
	return string(bytes.TrimRight(b, "\x00"))
}

// Err is the damage Inspect noticed, as one error (nil without any).
func (r *Inspection) Err() error {
	if len(r.Problems) == 0 {
		return nil
	}
	return fmt.Errorf("inspect: %s", strings.Join(r.Problems, "; "))
}

// Print writes the inspection for a person, as a table.
func (r *Inspection) Print(out io.Writer) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "disk\t%s (GUID %s)\n", r.Disk, r.DiskGUID)
	fmt.Fprintf(w, "#\tROLE\tOFFSET\tSIZE\tRO\tTYPE\tUUID\n")
	for _, p := range r.Partitions {
		fmt.Fprintf(w, "%d\t%s\t%d\t%d\t%v\t%s\t%s\n", p.Number, p.Role, p.Offset, p.Size, p.ReadOnly, p.Type, p.GUID)
	}
	if r.Arch != "" {
		fmt.Fprintf(w, "architecture\t%s\n", r.Arch)
	}
	if r.RootHash != "" {
		fmt.Fprintf(w, "root hash\t%s\n", r.RootHash)
	}
	if r.Verity != nil {
		fmt.Fprintf(w, "verity\t%s, %d data blocks of %d bytes, salt %s\n", r.Verity.Algorithm, r.Verity.DataBlocks, r.Verity.DataBlockSize, r.Verity.Salt)
	}
	if u := r.UKI; u != nil {
		fmt.Fprintf(w, "uki\t%s (authenticode sha256 %s)\n", u.Path, u.Digest)
		fmt.Fprintf(w, "SECTION\tVSIZE\tSHA256\n")
		for _, s := range u.Sections {
			fmt.Fprintf(w, "%s\t%d\t%s\n", s.Name, s.VirtualSize, s.SHA256)
		}
		if len(u.Signers) == 0 {
			fmt.Fprintf(w, "signer\tNONE: the UKI is not signed\n")
		}
		for _, s := range u.Signers {
			fmt.Fprintf(w, "signer\t%s (sha256 %s)\n", s.Subject, s.SHA256)
		}
		fmt.Fprintf(w, "cmdline\t%s\n", r.Cmdline())
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "DAMAGED\t%s\n", p)
	}
	return w.Flush()
}
