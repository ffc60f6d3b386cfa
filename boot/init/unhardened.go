package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// The unhardened path of stage 1 (bootparams.UnhardenedParam): an image
// built with `hardenvm build --unhardened-for-benchmarks` mounts its root
// partition directly instead of through dm-verity, mounts its config
// partition without checking the admin signature (the settings are still
// validated), and neither opens nor extends a TPM. Benchmarks boot it
// beside the hardened image to measure what the hardening costs.
//
// The parameter comes from the signed command line only, and is refused
// when the firmware booted with Secure Boot on (checkUnhardened): a VM
// whose firmware enforces signatures never takes the unverified path,
// whoever signed the UKI.

// bootParamsData is the kernel's copy of the x86 boot protocol's struct
// boot_params, as the EFI stub filled it in (arch/x86/kernel/ksysfs.c).
const bootParamsData = "/sys/kernel/boot_params/data"

// secureBootOffset is boot_params.secure_boot (asm/bootparam.h, 0x1ec): the
// efi_secureboot_mode the EFI stub read from the firmware's SecureBoot and
// SetupMode variables.
const secureBootOffset = 0x1ec

// The values of enum efi_secureboot_mode (include/linux/efi.h).
const (
	secureBootUnset    = 0
	secureBootUnknown  = 1
	secureBootDisabled = 2
	secureBootEnabled  = 3
)

// secureBootMode reads boot_params.secure_boot from the bytes of
// bootParamsData.
func secureBootMode(data []byte) (byte, error) {
	if len(data) <= secureBootOffset {
		return 0, fmt.Errorf("%s has %d bytes, too few for boot_params.secure_boot at %#x", bootParamsData, len(data), secureBootOffset)
	}
	return data[secureBootOffset], nil
}

// checkUnhardened allows the unhardened path only when the firmware said
// Secure Boot is off: enabled, unknown or unreadable all refuse.
func checkUnhardened(data []byte, readErr error) error {
	const what = "the kernel command line asks for an unhardened boot (root without dm-verity, config unverified, no TPM)"
	if readErr != nil {
		return fmt.Errorf("%s, but whether Secure Boot is on cannot be told: %w; refusing", what, readErr)
	}
	mode, err := secureBootMode(data)
	if err != nil {
		return fmt.Errorf("%s, but %w; refusing", what, err)
	}
	switch mode {
	case secureBootDisabled:
		return nil
	case secureBootEnabled:
		return fmt.Errorf("%s under Secure Boot: refusing (images built with --unhardened-for-benchmarks boot only on firmware without Secure Boot)", what)
	default:
		return fmt.Errorf("%s, but the firmware's Secure Boot state is unknown (boot_params.secure_boot=%d): refusing", what, mode)
	}
}

// readSecureBootState reads what checkUnhardened needs. Only x86 has
// boot_params; the build makes unhardened images for amd64 only, and
// elsewhere the read fails, so the check refuses.
func readSecureBootState() ([]byte, error) {
	if runtime.GOARCH != "amd64" {
		return nil, errors.New("no boot_params on " + runtime.GOARCH)
	}
	return os.ReadFile(bootParamsData)
}

// plainConfig is the config partition, if any, to mount as it is: no
// signature check, no dm-verity (the EROFS image starts the partition).
func plainConfig(d *bootDisk) *verifiedConfig {
	if d.config == nil {
		say("no config partition on %s: none mounted", d.name)
		return nil
	}
	say("config partition %s mounted UNVERIFIED (unhardened image)", d.config.dev)
	return &verifiedConfig{dev: d.config.dev, part: d.config.dev}
}
