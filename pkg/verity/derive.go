package verity

import (
	"crypto/sha256"
	"encoding/binary"
)

// Domain strings of the derivations, NUL-terminated on the wire. The "v1"
// is bumped if a derivation ever changes, since it changes every root hash.
const (
	saltDomain = "hardenvm verity salt v1"
	uuidDomain = "hardenvm verity uuid v1"
)

// DeriveSalt returns the salt Format uses when none is given: SHA-256 of
//
//	"hardenvm verity salt v1" NUL
//	le64 data_blocks ‖ le32 data_block_size ‖ le32 hash_block_size
//	algorithm NUL ‖ R0
//
// where R0 is the root hash of the same data with an empty salt (which
// `veritysetup format --salt=-` prints too). The block count is included
// because a Merkle root alone does not fix the length of the data.
func DeriveSalt(g Geometry, algorithm string, unsaltedRoot []byte) []byte {
	h := sha256.New()
	h.Write(append([]byte(saltDomain), 0))
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:], g.DataBlocks)
	binary.LittleEndian.PutUint32(b[8:], uint32(g.DataBlockSize))
	binary.LittleEndian.PutUint32(b[12:], uint32(g.HashBlockSize))
	h.Write(b[:])
	h.Write(append([]byte(algorithm), 0))
	h.Write(unsaltedRoot)
	return h.Sum(nil)
}

// DeriveUUID returns the UUID Format uses when none is given: the first 16
// bytes of SHA-256("hardenvm verity uuid v1" NUL ‖ salt ‖ root hash), marked
// as an RFC 9562 version 8 (custom) UUID.
func DeriveUUID(salt, rootHash []byte) [16]byte {
	h := sha256.New()
	h.Write(append([]byte(uuidDomain), 0))
	h.Write(salt)
	h.Write(rootHash)
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // variant 10
	return u
}
