package config

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/hardenvm/hardenvm/pkg/adminsettings"
	"github.com/hardenvm/hardenvm/pkg/configpart"
	"github.com/hardenvm/hardenvm/pkg/disk"
	"github.com/hardenvm/hardenvm/pkg/erofs"
	"github.com/hardenvm/hardenvm/pkg/gpt"
)

// DiskSettings reads the admin settings from the config partition of a
// disk image (an image directory's disk.raw), for host-side checks that
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
	st, err := f.Stat()
	if err != nil {
		return adminsettings.Settings{}, fmt.Errorf("config: %w", err)
	}
	t, err := gpt.Read(f, st.Size())
	if err != nil {
		return adminsettings.Settings{}, fmt.Errorf("config: %s: %w", diskPath, err)
	}
	var part *gpt.Partition
	for i, p := range t.Partitions {
		if p.Name == disk.NameConfig {
			part = &t.Partitions[i]
		}
	}
	if part == nil {
		return adminsettings.Default(), nil
	}
	r := io.NewSectionReader(f, part.Offset(t.SectorSize), part.Size(t.SectorSize))
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
