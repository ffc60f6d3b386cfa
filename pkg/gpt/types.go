package gpt

import "fmt"

// Partition type GUIDs of the Discoverable Partitions Specification
// (uapi-group) for x86-64 and AArch64, and the generic ones we use.
var (
	TypeESP                 = MustParseGUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
	TypeRootX86_64          = MustParseGUID("4f68bce3-e8cd-4db1-96e7-fbcaf984b709")
	TypeRootVerityX86_64    = MustParseGUID("2c7357ed-ebd2-46d9-aec1-23d437ec2bf5")
	TypeRootVeritySigX86_64 = MustParseGUID("41092b05-9fc8-4523-994f-2def0408b176")
	TypeRootARM64           = MustParseGUID("b921b045-1df0-41c3-af44-4c6f280d3fae")
	TypeRootVerityARM64     = MustParseGUID("df3300ce-d69f-4c92-978c-9bfb0f38d820")
	TypeRootVeritySigARM64  = MustParseGUID("6db69de6-29f4-4758-a7a5-962190f00ce3")
	TypeLinuxData           = MustParseGUID("0fc63daf-8483-4772-8e79-3d69d8477de4")
)

// RootTypes are the partition types of one architecture's root file
// system, its dm-verity hash tree and the tree's signature.
type RootTypes struct{ Root, Verity, VeritySig GUID }

// rootTypes is keyed by Go's GOARCH, which is Debian's architecture name
// for both: the guest init asks with runtime.GOARCH, the build with the
// spec's debian.arch.
var rootTypes = map[string]RootTypes{
	"amd64": {TypeRootX86_64, TypeRootVerityX86_64, TypeRootVeritySigX86_64},
	"arm64": {TypeRootARM64, TypeRootVerityARM64, TypeRootVeritySigARM64},
}

// RootTypesOf returns the root partition types of an architecture
// ("amd64", "arm64").
func RootTypesOf(arch string) (RootTypes, error) {
	t, ok := rootTypes[arch]
	if !ok {
		return RootTypes{}, fmt.Errorf("gpt: no root partition types for architecture %q", arch)
	}
	return t, nil
}

// RootRole says what a root-related partition type is ("root",
// "root-verity", "root-verity-sig") and for which architecture; ok is
// false for other types.
func RootRole(t GUID) (role, arch string, ok bool) {
	for a, rt := range rootTypes {
		switch t {
		case rt.Root:
			return "root", a, true
		case rt.Verity:
			return "root-verity", a, true
		case rt.VeritySig:
			return "root-verity-sig", a, true
		}
	}
	return "", "", false
}

// Partition attribute bits. Bits 0–2 are UEFI's; 59, 60 and 63 are the
// Discoverable Partitions Specification's type-specific bits.
const (
	AttrRequired       uint64 = 1 << 0
	AttrNoBlockIO      uint64 = 1 << 1
	AttrLegacyBootable uint64 = 1 << 2
	AttrGrowFS         uint64 = 1 << 59
	AttrReadOnly       uint64 = 1 << 60
	AttrNoAuto         uint64 = 1 << 63
)

// VerityGUIDs are the partition UUIDs the Discoverable Partitions
// Specification derives from a dm-verity root hash: the data partition's
// is the hash's first 128 bits, the hash partition's its last 128 bits.
// The root hash must have at least 32 bytes so that the two differ.
func VerityGUIDs(rootHash []byte) (data, hash GUID, err error) {
	if len(rootHash) < 32 {
		return GUID{}, GUID{}, fmt.Errorf("gpt: root hash of %d bytes; want at least 32 (two 16-byte UUIDs)", len(rootHash))
	}
	return GUID(rootHash[:16]), GUID(rootHash[len(rootHash)-16:]), nil
}
