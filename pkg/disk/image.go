package disk

import (
	"fmt"
	"io"
	"time"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/pkg/fat"
	"github.com/hardenvm/hardenvm/pkg/gpt"
)

// Image is the hardenvm disk: an EFI system partition, the dm-verity
// protected root, and the admin's config partition.
type Image struct {
	// ESP holds the files of the EFI system partition
	// ("EFI/BOOT/BOOTX64.EFI", ...), written as FAT32 in place; ESPSize
	// is its size (0: fat.MinSize). Time is every FAT timestamp.
	ESP     []fat.File
	ESPSize int64
	Time    time.Time

	// Root is the root file system image and RootVerity its hash tree
	// (with superblock); RootHash is the tree's root hash, whose first
	// and last 16 bytes become the two partitions' UUIDs.
	Root, RootVerity *io.SectionReader
	RootHash         []byte
	// RootVeritySig is optional: the Discoverable Partitions signature
	// JSON, NUL-padded.
	RootVeritySig *io.SectionReader

	// Config is the config partition's image (optional), and Extra any
	// further partitions after it. ConfigSize reserves room for larger
	// configs installed later (0: the image's size rounded up).
	Config     *io.SectionReader
	ConfigSize int64
	Extra      []Partition

	// Free is space left unpartitioned at the end, for the data
	// partition the guest creates on first boot.
	Free int64

	// Arch picks the root partitions' types (gpt.RootTypesOf): the
	// guest's init looks for its own architecture's. amd64 when empty.
	Arch string
}

// Layout turns the image into partitions: ESP (no attributes), then root,
// root-verity, root-verity-sig and config, read-only (attribute bit 60).
func (im Image) Layout() (Layout, error) {
	rootGUID, verityGUID, err := gpt.VerityGUIDs(im.RootHash)
	if err != nil {
		return Layout{}, fmt.Errorf("disk: %w", err)
	}
	a := im.Arch
	if a == "" {
		a = "amd64"
	}
	types, err := gpt.RootTypesOf(a)
	if err != nil {
		return Layout{}, fmt.Errorf("disk: %w", err)
	}
	// systemd-repart's labels: root-<arch>[-verity[-sig]], the
	// architecture as the Discoverable Partitions Specification names it.
	rootName, verityName, sigName := bootparams.PartitionRoot, bootparams.PartitionRootVerity, bootparams.PartitionRootVeritySig
	if a == "arm64" {
		rootName, verityName, sigName = "root-arm64", "root-arm64-verity", "root-arm64-verity-sig"
	}
	if im.Root == nil || im.RootVerity == nil {
		return Layout{}, fmt.Errorf("disk: a root image and its verity hash tree are required")
	}
	if len(im.ESP) == 0 {
		return Layout{}, fmt.Errorf("disk: the ESP has no files")
	}
	espSize := im.ESPSize
	if espSize == 0 {
		if espSize, err = fat.MinSize(im.ESP, ""); err != nil {
			return Layout{}, fmt.Errorf("disk: ESP: %w", err)
		}
	}
	files := im.ESP
	ro := gpt.AttrReadOnly
	l := Layout{Free: im.Free, Partitions: []Partition{
		{Type: gpt.TypeESP, Name: bootparams.PartitionESP, Size: espSize, Fill: func(w io.WriterAt, lba uint64) error {
			_, err := fat.Write(w, files, fat.Options{Size: espSize, Time: im.Time, HiddenSectors: uint32(lba)})
			return err
		}},
		{Type: types.Root, Name: rootName, Data: im.Root, Attributes: ro,
			GUID: rootGUID},
		{Type: types.Verity, Name: verityName, Data: im.RootVerity, Attributes: ro,
			GUID: verityGUID},
	}}
	if im.RootVeritySig != nil {
		l.Partitions = append(l.Partitions, Partition{Type: types.VeritySig,
			Name: sigName, Data: im.RootVeritySig, Attributes: ro})
	}
	if im.Config != nil {
		l.Partitions = append(l.Partitions, Partition{Type: gpt.TypeLinuxData,
			Name: bootparams.PartitionConfig, Data: im.Config, Size: im.ConfigSize, Attributes: ro})
	}
	l.Partitions = append(l.Partitions, im.Extra...)
	return l, nil
}

// Build writes the image to w (see Write) and returns its size and the
// partition table it wrote.
func Build(w io.WriterAt, im Image) (*Result, error) {
	l, err := im.Layout()
	if err != nil {
		return nil, err
	}
	return Write(w, l)
}
