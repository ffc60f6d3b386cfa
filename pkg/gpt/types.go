package gpt

import "fmt"

// Partition type GUIDs of the Discoverable Partitions Specification
// (uapi-group) for x86-64, and the generic ones we use.
var (
	TypeESP                 = MustParseGUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
	TypeRootX86_64          = MustParseGUID("4f68bce3-e8cd-4db1-96e7-fbcaf984b709")
	TypeRootVerityX86_64    = MustParseGUID("2c7357ed-ebd2-46d9-aec1-23d437ec2bf5")
	TypeRootVeritySigX86_64 = MustParseGUID("41092b05-9fc8-4523-994f-2def0408b176")
	TypeLinuxData           = MustParseGUID("0fc63daf-8483-4772-8e79-3d69d8477de4")
)

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
