// Package attest predicts the measured boot of a hardenvm image and checks
// a running VM's TPM evidence against the prediction.
//
// Prediction (Predict) works from the image's own artifacts, SHA-256 bank
// (PCRs 0–3 and 6 depend on the firmware: golden.go):
//
//	PCR 4   edk2: EV_EFI_ACTION "Calling EFI Application from Boot Option",
//	        EV_SEPARATOR, EV_EFI_BOOT_SERVICES_APPLICATION = the UKI's
//	        Authenticode hash. systemd-stub 257 starts the kernel without the
//	        firmware measuring it again.
//	PCR 5   edk2: EV_SEPARATOR, EV_EFI_GPT_EVENT = the disk's
//	        UEFI_GPT_DATA (header, count, used entries), then the two
//	        ExitBootServices EV_EFI_ACTIONs. After the first boot the GPT
//	        also holds the data partition hardenvm-init adds; Verify
//	        accepts exactly that change.
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
// real boot (test/qemu TestAttest; testdata/ holds that boot's log).
//
// Verification (Verify) trusts nothing the guest sends until the quote
// verifies: an AK bound to the EK by credential activation (Client.BindAK),
// the quote's signature, magic, type, nonce and PCR digest (VerifyQuote);
// then the firmware log (go-eventlog) and hardenvm-init's log replay
// against the quoted PCRs, and each predicted PCR is compared event by
// event. The guest side is package agent (cmd/hardenvm-agent), the wire
// protocol package agentproto.
package attest
