// Package arch names the guest architectures hardenvm builds images for,
// in each vocabulary the pipeline meets: Debian's architecture (the spec's
// debian.arch, the lock, the .deb files), Go's GOARCH (the guest binaries),
// UEFI's file-name suffix (the removable-media boot path and the
// systemd-boot stub), the PE machine type of the UKI, the kernel's serial
// console, and QEMU's system emulator.
//
// It knows two: amd64 (x86-64, the default) and arm64 (AArch64, Apple
// silicon). Facts that belong to a format stay in that format's package
// (the GPT partition types in pkg/gpt, the firmware variable stores in
// pkg/efivars); this package only maps names.
package arch

import (
	"fmt"
	"strings"
)

// Arch is one guest architecture.
type Arch struct {
	// Debian is the Debian architecture ("amd64", "arm64"), also the
	// name specs, locks and manifests use.
	Debian string
	// GOARCH builds the guest binaries (the init, the agent, the shim).
	GOARCH string
	// EFI is the UEFI suffix: EFI/BOOT/BOOT<EFI>.EFI is the default boot
	// path of removable media, linux<efi>.efi.stub systemd's UKI stub.
	EFI string
	// PEMachine is the PE/COFF machine type of the UKI and its stub.
	PEMachine uint16
	// ELFMachine is the ELF e_machine of the guest binaries.
	ELFMachine uint16
	// Console is the serial console the firmware and QEMU give the
	// kernel (console=<Console>).
	Console string
	// QEMU is the system emulator's binary.
	QEMU string
}

// The supported architectures.
var (
	AMD64 = Arch{Debian: "amd64", GOARCH: "amd64", EFI: "x64", PEMachine: 0x8664, ELFMachine: 62,
		Console: "ttyS0", QEMU: "qemu-system-x86_64"}
	ARM64 = Arch{Debian: "arm64", GOARCH: "arm64", EFI: "aa64", PEMachine: 0xaa64, ELFMachine: 183,
		Console: "ttyAMA0", QEMU: "qemu-system-aarch64"}
)

// All lists the supported architectures, the default first.
var All = []Arch{AMD64, ARM64}

// Default is the architecture of specs and manifests that name none.
var Default = AMD64

// Lookup finds an architecture by its Debian name; "" is Default.
func Lookup(debian string) (Arch, error) {
	if debian == "" {
		return Default, nil
	}
	for _, a := range All {
		if a.Debian == debian {
			return a, nil
		}
	}
	return Arch{}, fmt.Errorf("architecture %q is not supported: want one of %s", debian, Names())
}

// Names lists the Debian names of All, comma-separated.
func Names() string {
	var n []string
	for _, a := range All {
		n = append(n, a.Debian)
	}
	return strings.Join(n, ", ")
}

// BootPath is the ESP path the firmware boots from removable media.
func (a Arch) BootPath() string { return "EFI/BOOT/BOOT" + strings.ToUpper(a.EFI) + ".EFI" }

// StubPath is where Debian's systemd-boot-efi ships the UKI stub.
func (a Arch) StubPath() string { return "usr/lib/systemd/boot/efi/linux" + a.EFI + ".efi.stub" }

// MachineName names a PE machine type for messages.
func MachineName(m uint16) string {
	for _, a := range All {
		if a.PEMachine == m {
			return a.Debian
		}
	}
	return fmt.Sprintf("machine %#04x", m)
}
