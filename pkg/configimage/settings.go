package configimage

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/internal/readfile"
	"github.com/hardenvm/hardenvm/pkg/adminsettings"
	"github.com/hardenvm/hardenvm/pkg/configpart"
	"github.com/hardenvm/hardenvm/pkg/erofs"
	"github.com/hardenvm/hardenvm/pkg/gpt"
)

// DiskSettings reads the admin settings from the config partition of a
// disk image (an image directory's disk), for host-side checks that
// must agree with the VM's policy before it boots (hardenvm run refuses a
// share the settings do not allow). The partition's tree is checked
// against the root hash its signature block states; the signature itself
// is the guest init's to check (with the admin certificate in the signed
// initramfs), and run verifies the whole disk against the signed manifest
// first. A disk without a config partition has the default settings.
func DiskSettings(ctx context.Context, diskPath string) (adminsettings.Settings, error) {
	f, err := os.Open(diskPath)
	if err != nil {
		return adminsettings.Settings{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	r, part, err := Partition(f, diskPath)
	if err != nil {
		return adminsettings.Settings{}, err
	}
	if part == nil {
		return adminsettings.Default(), nil
	}
	l, err := configpart.Read(r, r.Size())
	if err != nil {
		return adminsettings.Settings{}, fmt.Errorf("config: %s partition %d: %w", diskPath, part.Number, err)
	}
	root, err := hex.DecodeString(l.Signature.RootHash)
	if err != nil {
		return adminsettings.Settings{}, fmt.Errorf("config: %s partition %d: root hash %q: %w", diskPath, part.Number, l.Signature.RootHash, err)
	}
	if err := l.Check(ctx, r, root); err != nil {
		return adminsettings.Settings{}, fmt.Errorf("config: %s partition %d: %w", diskPath, part.Number, err)
	}
	rd, err := erofs.NewReader(io.NewSectionReader(r, 0, l.DataSize), l.DataSize)
	if err != nil {
		return adminsettings.Settings{}, fmt.Errorf("config: %s partition %d: %w", diskPath, part.Number, err)
	}
	b, err := rd.ReadFile(adminsettings.SettingsFile, adminsettings.MaxSize)
	if err != nil {
		return adminsettings.Settings{}, fmt.Errorf("config: %s partition %d: %w", diskPath, part.Number, err)
	}
	s, err := adminsettings.Parse(b)
	if err != nil {
		return adminsettings.Settings{}, fmt.Errorf("config: %s partition %d: %w", diskPath, part.Number, err)
	}
	return s, nil
}

// Partition finds the config partition of the disk image f (named path in
// errors) and returns a reader of it; a nil partition when the disk has
// none.
func Partition(f io.ReaderAt, path string) (*io.SectionReader, *gpt.Partition, error) {
	size, err := sizeOf(f)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %s: %w", path, err)
	}
	t, err := gpt.Read(f, size)
	if err != nil {
		return nil, nil, fmt.Errorf("config: %s: %w", path, err)
	}
	for i, p := range t.Partitions {
		if p.Name == bootparams.PartitionConfig {
			part := &t.Partitions[i]
			return io.NewSectionReader(f, part.Offset(t.SectorSize), part.Size(t.SectorSize)), part, nil
		}
	}
	return nil, nil, nil
}

func sizeOf(f io.ReaderAt) (int64, error) {
	if st, ok := f.(interface{ Stat() (os.FileInfo, error) }); ok {
		fi, err := st.Stat()
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	if s, ok := f.(interface{ Size() int64 }); ok {
		return s.Size(), nil
	}
	return 0, fmt.Errorf("BUG: cannot tell the size of a %T", f)
}

// ReadFrom reads the config image at path: a config image file, or a disk
// image (its config partition). It returns what it read, named for
// errors.
func ReadFrom(path string) (*Image, string, error) {
	f, err := readfile.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	head := make([]byte, 512)
	if _, err := f.ReadAt(head, 0); err != nil && err != io.EOF {
		return nil, "", fmt.Errorf("config: reading %s: %w", path, err)
	}
	// A disk starts with a protective MBR whose partition type is GPT
	// (0xEE); a config image with its EROFS data.
	if head[510] != 0x55 || head[511] != 0xAA || head[450] != 0xEE {
		im, err := ReadImage(path)
		return im, path, err
	}
	r, part, err := Partition(f, path)
	if err != nil {
		return nil, "", err
	}
	if part == nil {
		return nil, "", fmt.Errorf("config: %s has no config partition", path)
	}
	name := fmt.Sprintf("%s partition %d", path, part.Number)
	l, err := configpart.Read(r, r.Size())
	if err != nil {
		return nil, "", fmt.Errorf("config: %s: %w", name, err)
	}
	if l.Size > MaxImageSize || l.Size > r.Size() {
		return nil, "", fmt.Errorf("config: %s: the image claims %d bytes, a config image has at most %d", name, l.Size, MaxImageSize)
	}
	b := make([]byte, l.Size)
	if _, err := r.ReadAt(b, 0); err != nil {
		return nil, "", fmt.Errorf("config: reading %s: %w", name, err)
	}
	return &Image{Bytes: b, Layout: l}, name, nil
}
