package launch

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/pkg/configimage"
	"github.com/hardenvm/hardenvm/pkg/efivars"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/vm"
)

// Files in the state directory: the data disk and the engine's socket.
const (
	dataDiskFile     = "data.raw"
	engineSocketFile = "docker.sock"
)

// imageConfig points cfg at a built image directory, booting its disk in
// format (raw when empty) on the firmware of its architecture (the
// manifest's; firmware overrides the code image). The variable store is
// copied into the state directory so the image stays as it was built.
//
// An unhardened benchmark image (manifest "unhardened": true) boots on
// OVMF without Secure Boot, with a blank variable store and no TPM: its
// init refuses to run under Secure Boot. It reports that it was one.
func imageConfig(cfg *vm.Config, dir, firmware, format string) (unhardened bool, err error) {
	if format == "" {
		format = imagedir.FormatRaw
	}
	name, err := imagedir.DiskFile(format)
	if err != nil {
		return false, fmt.Errorf("run: %w", err)
	}
	disk := filepath.Join(dir, name)
	vars := filepath.Join(dir, imagedir.Vars)
	for _, p := range []string{filepath.Join(dir, imagedir.Disk), vars} {
		if _, err := os.Stat(p); err != nil {
			return false, fmt.Errorf("run: %s: not an image directory (missing %s); build one with 'hardenvm build'", dir, filepath.Base(p))
		}
	}
	// An image without a manifest (run --insecure-skip-verify) is amd64,
	// as every image was before arm64 ones.
	m, merr := imagedir.Load(dir)
	if merr == nil {
		cfg.Arch = m.Architecture()
		unhardened = m.Unhardened
	}
	if unhardened {
		vars, cfg.TPM = efivars.DefaultTemplate, false
		if firmware == "" {
			firmware = vm.OVMFCodeNoSecureBoot
		}
	}
	if firmware == "" {
		fw, err := efivars.FirmwareOf(cmp.Or(cfg.Arch, "amd64"))
		if err != nil {
			return false, fmt.Errorf("run: %w", err)
		}
		firmware = fw.Code
	}
	if format != imagedir.FormatRaw {
		// Only a disk file the manifest lists: the verification
		// before the boot checked its digest.
		if merr != nil {
			return false, fmt.Errorf("run: %w", merr)
		}
		if _, ok := m.Artifacts[name]; !ok {
			return false, fmt.Errorf("run: %s has no %s disk (its manifest lists no %s); build it with 'hardenvm build --format %s'", dir, format, name, format)
		}
	}
	b, err := os.ReadFile(vars)
	if err != nil {
		return false, fmt.Errorf("run: %w", err)
	}
	cfg.FirmwareVars = filepath.Join(cfg.StateDir, imagedir.Vars)
	if err := atomicfile.WriteFile(cfg.FirmwareVars, b, 0o600); err != nil {
		return false, fmt.Errorf("run: %w", err)
	}
	cfg.FirmwareCode = firmware
	// The OS disk is never written: its root and config are verified
	// read-only, and the VM's state lives on the data disk.
	cfg.Disks = []vm.Disk{{Path: disk, Format: format, ReadOnly: true}}
	return unhardened, nil
}

// dataDisk attaches the VM's data disk, STATE/data.raw, creating it on
// first use. The guest init finds it by its serial, formats it once and
// keeps the engine's state on it: a later run with the same state
// directory finds the images, containers and volumes again.
func dataDisk(log *slog.Logger, cfg *vm.Config, size int64) error {
	p := filepath.Join(cfg.StateDir, dataDiskFile)
	created, err := vm.CreateDisk(p, size)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	if created {
		log.Info("created the data disk", "path", p, "bytes", size)
	}
	cfg.Disks = append(cfg.Disks, vm.Disk{Path: p, Serial: bootparams.DataDiskSerial})
	return nil
}

// shareDirs adds the shared directories, refused before the VM starts
// when the admin settings of the image's raw disk do not allow them (the
// guest init checks again against its verified copy).
func shareDirs(ctx context.Context, cfg *vm.Config, raw string, dirs []string) error {
	if len(dirs) == 0 {
		return nil
	}
	s, err := configimage.DiskSettings(ctx, raw)
	if err != nil {
		return fmt.Errorf("run: reading the image's admin settings for --share: %w", err)
	}
	h := configimage.HostDirs()
	real, err := configimage.CheckShares(s, dirs, h)
	if err != nil {
		return fmt.Errorf("run: --share: %w", err)
	}
	uid, gid := configimage.ShareOwner(s)
	for _, d := range real {
		cfg.Shares = append(cfg.Shares, vm.Share{HostDir: d, OwnerUID: uid, OwnerGID: gid})
	}
	cfg.ShareHost = bootparams.HostDirs{Home: h.Home, Temp: h.Temp}
	return nil
}
