// Package vm boots hardenvm images under QEMU with the pieces a real
// desktop VM has: OVMF with Secure Boot (SMM, secure flash), a software TPM
// (swtpm), virtio disks, a serial console, virtio-serial channels and
// user-mode networking restricted to explicit forwards on 127.0.0.1.
//
// Every child process runs in its own process group with a parent-death
// signal, so a VM never outlives the program (or test) that started it:
// Stop, a cancelled context, and the parent's death all take QEMU and swtpm
// down with it.
package vm

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/pkg/arch"
	"github.com/hardenvm/hardenvm/pkg/efivars"
)

// OVMFCodeSecureBoot is the Secure Boot firmware code of Debian's ovmf
// package; its variable store template is efivars.DefaultTemplate.
const OVMFCodeSecureBoot = efivars.OVMFCode

// OVMFCodeNoSecureBoot is the same package's firmware built without
// Secure Boot, for images built with --unhardened-for-benchmarks (with
// the blank store efivars.DefaultTemplate).
const OVMFCodeNoSecureBoot = "/usr/share/OVMF/OVMF_CODE_4M.fd"

// Config describes one VM.
type Config struct {
	// Arch is the guest's Debian architecture: amd64 (q35, OVMF with
	// SMM) when empty, or arm64 (virt, AAVMF, always TCG on other hosts).
	Arch      string
	QEMU      string // binary; the architecture's (arch.Arch.QEMU) when empty
	Virtiofsd string // binary; Virtiofsd when empty
	Accel     Accel  // auto (default), kvm or tcg
	MemoryMiB int    // 1024 when zero
	CPUs      int    // 2 when zero

	// UEFI firmware: a read-only code image and a writable variable
	// store, used in place (callers copy a template first). With
	// FirmwareCode empty QEMU's default BIOS runs, which is enough for
	// direct kernel boot.
	FirmwareCode string
	FirmwareVars string

	// Direct kernel boot, for tests: QEMU loads the kernel itself.
	Kernel, Initrd, Append string

	Disks []Disk

	// TPM attaches a TPM 2.0 (TIS) backed by swtpm with state in TPMState
	// (created with swtpm_setup on first use).
	TPM      bool
	TPMState string

	// StateDir holds the run's sockets and logs. Required.
	StateDir string
	// SerialLog keeps everything the serial console printed;
	// StateDir/serial.log when empty.
	SerialLog string

	// Channels are virtio-serial ports; the host side of each is the unix
	// socket ChannelPath(name).
	Channels []string

	// Shares are host directories shared with the guest through
	// virtiofs (see Share); the guest learns where to mount them from
	// the fw_cfg item bootparams.SharesFWCfg.
	Shares []Share
	// ShareHost are the host's home and temporary directories, passed to
	// the guest with the shares (it checks them against the admin
	// settings' filesharingAllowedDirectories, which may name $HOME).
	ShareHost bootparams.HostDirs

	// Net attaches a virtio NIC on QEMU's user-mode network with
	// restrict=on: the guest reaches only the forwards listed.
	Net *Net

	// Reboot lets the guest reboot; by default a reboot (or a panic with
	// panic=-1) ends QEMU, which is what tests want.
	Reboot bool

	Log *slog.Logger
}

// Disk is a raw disk image attached as virtio-blk.
type Disk struct {
	Path string
	// Format is QEMU's name of the file's format: raw when empty, qcow2,
	// vhdx.
	Format   string
	ReadOnly bool
	// Snapshot discards guest writes (QEMU -snapshot for this drive).
	Snapshot bool
	// Serial is the disk's virtio serial number, how the guest tells
	// disks apart (the data disk's is bootparams.DataDiskSerial).
	Serial string
}

// Net is user-mode networking. Without NAT the guest reaches only the
// forwards listed (restrict=on); with NAT it reaches what the host
// reaches, its loopback at 10.0.2.2.
type Net struct {
	NAT bool
	// HostForwards expose guest TCP ports on 127.0.0.1.
	HostForwards []HostForward
	// GuestForwards let the guest reach host services: a connection to
	// GuestAddr (e.g. "10.0.2.100:8080") goes to Target ("127.0.0.1:8080").
	GuestForwards []GuestForward
}

type HostForward struct{ HostPort, GuestPort int }

type GuestForward struct{ GuestAddr, Target string }

// Share is a host directory shared with the guest through virtiofs,
// served by its own virtiofsd.
type Share struct {
	// HostDir is the directory, absolute and clean; the guest mounts it
	// at the same path.
	HostDir string
	// OwnerUID and OwnerGID are the guest IDs that stand for the user
	// who runs the VM: virtiofsd runs in a user namespace that maps them
	// (and only them) to that user, so files the guest creates as them
	// belong to the user on the host, the user's files show as theirs in
	// the guest, and other guest IDs cannot create files. They are the
	// hardened runtime's container root (runtime.Settings.UIDBase), so
	// containers write to a share as the user.
	OwnerUID, OwnerGID uint32
}

func (c *Config) defaults() error {
	if c.StateDir == "" {
		return fmt.Errorf("vm: Config.StateDir is required")
	}
	a, err := arch.Lookup(c.Arch)
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	c.Arch = a.Debian
	if c.QEMU == "" {
		c.QEMU = a.QEMU
	}
	if c.Accel == "" {
		c.Accel = AccelAuto
	}
	if c.MemoryMiB == 0 {
		c.MemoryMiB = 1024
	}
	if c.CPUs == 0 {
		c.CPUs = 2
	}
	if c.SerialLog == "" {
		c.SerialLog = filepath.Join(c.StateDir, "serial.log")
	}
	if c.TPM && c.TPMState == "" {
		c.TPMState = filepath.Join(c.StateDir, "tpm")
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Kernel == "" && (c.Initrd != "" || c.Append != "") {
		return fmt.Errorf("vm: an initrd or kernel command line needs a kernel (--kernel)")
	}
	if c.FirmwareCode != "" && c.FirmwareVars == "" {
		return fmt.Errorf("vm: firmware %s needs a variable store file", c.FirmwareCode)
	}
	for i, s := range c.Shares {
		if !filepath.IsAbs(s.HostDir) || filepath.Clean(s.HostDir) != s.HostDir {
			return fmt.Errorf("vm: share %q: want an absolute clean path", s.HostDir)
		}
		if i >= bootparams.MaxShares {
			return fmt.Errorf("vm: %d shares, at most %d", len(c.Shares), bootparams.MaxShares)
		}
	}
	if c.Kernel == "" && len(c.Disks) == 0 {
		return fmt.Errorf("vm: nothing to boot: give a kernel or a disk")
	}
	return nil
}

// ChannelPath is the host socket of a virtio-serial channel.
func (c *Config) ChannelPath(name string) string {
	return filepath.Join(c.StateDir, "chan-"+name+".sock")
}

func (c *Config) shareSocket(i int) string {
	return filepath.Join(c.StateDir, fmt.Sprintf("virtiofs-%d.sock", i))
}

// sharesFile is the share list QEMU hands the guest through fw_cfg.
func (c *Config) sharesFile() string { return filepath.Join(c.StateDir, "shares.json") }

func (c *Config) tpmSocket() string { return filepath.Join(c.StateDir, "swtpm.sock") }
func (c *Config) qmpSocket() string { return filepath.Join(c.StateDir, "qmp.sock") }
