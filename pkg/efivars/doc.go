// Package efivars reads and writes the UEFI variable store of an edk2
// (OVMF, AAVMF) flash image, enough to enroll Secure Boot keys before the
// first boot.
//
// It supports the layout of Debian's OVMF_VARS*.fd and of the store AAVMF
// (ArmVirtQemu) formats in its 64 MiB flash, whose block map covers the
// whole device (FormatBlank writes it for Debian's blank AAVMF_VARS.fd):
// one firmware volume
// (EFI_SYSTEM_NV_DATA_FV_GUID, erase polarity 1) that starts with an
// authenticated variable store (EFI_AUTHENTICATED_VARIABLE_GUID, formatted
// and healthy), followed by the fault-tolerant-write (FTW) working block
// and its spare area. Variables are AUTHENTICATED_VARIABLE_HEADER records,
// 4-byte aligned, as in edk2's MdeModulePkg/Include/Guid/VariableFormat.h.
//
// It refuses what it cannot write safely: non-authenticated stores
// (EFI_VARIABLE_GUID), stores whose header is not healthy, and images
// whose FTW working block records an unfinished write (the firmware would
// replay it over the new variables on the next boot).
//
// Writing rebuilds the variable region the way edk2's reclaim does: only
// live variables, packed from the start, free space erased (0xFF). Every
// byte comes from the inputs (the timestamps in authenticated variable
// headers too), so the output is reproducible.
package efivars
