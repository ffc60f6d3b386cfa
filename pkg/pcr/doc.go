// Package pcr predicts the PCR values a boot of the image measures: the
// events the firmware, systemd-stub, the kernel's EFI stub and
// hardenvm-init extend, and the values they fold to, from the image's
// artifacts alone (the signed UKI, the enrolled variable store, the GPT,
// the verity root hashes). It reads no files but the golden values.
//
// Predict works from the image's own artifacts, SHA-256 bank (PCRs 0–3
// and 6 depend on the firmware and the machine: a golden boot records them,
// golden.go):
//
//	PCR 4   edk2: EV_EFI_ACTION "Calling EFI Application from Boot Option",
//	        EV_SEPARATOR, EV_EFI_BOOT_SERVICES_APPLICATION = the UKI's
//	        Authenticode hash. systemd-stub 257 starts the kernel without the
//	        firmware measuring it again.
//	PCR 5   edk2: EV_SEPARATOR, EV_EFI_GPT_EVENT = the disk's
//	        UEFI_GPT_DATA (header, count, used entries), then the two
//	        ExitBootServices EV_EFI_ACTIONs. After the first boot the GPT
//	        also holds the data partition hardenvm-init adds;
//	        attest.Verify accepts exactly that change.
//	PCR 7   edk2: SecureBoot, PK, KEK, db, dbx as UEFI_VARIABLE_DATA
//	        (pkg/efivars), EV_SEPARATOR, then EV_EFI_VARIABLE_AUTHORITY for
//	        the db entry under which the UKI's signature verifies.
//	PCR 9   Linux 6.12's EFI stub, EV_EVENT_TAG: LoadOptions (tag
//	        0x8F3B22ED, the command line systemd-stub passes: UTF-16LE with
//	        its NUL) and the initrd it loads (tag 0x8F3B22EC): the .initrd
//	        section padded to 4 bytes plus the cpio systemd-stub 257.13
//	        makes of .osrel (/.extra/os-release) (StubInitrd).
//	PCR 11  systemd-stub 257, EV_IPL: for each UKI section it knows, in the
//	        UKI specification's order (.linux .osrel .cmdline .initrd
//	        .ucode .splash .dtb .uname .sbat .pcrpkey …; never .pcrsig), the
//	        name with its NUL, then the section as loaded ([0:VirtualSize],
//	        zero-filled past the file data: .linux's VirtualSize is the
//	        kernel's SizeOfImage).
//	PCR 15  hardenvm-init (boot/measure): root hash, config root hash,
//	        enter-userspace.
//
// Every event in the prediction says what it stands for, so a verifier can
// name what differs ("UKI differs", "db changed", "config partition
// differs"). These were checked event by event against the event log of a
// real boot (test/qemu TestAttest; pkg/attest/testdata holds that boot's
// log).
package pcr
