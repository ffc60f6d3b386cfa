package verity

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// SuperblockSize is the size of the on-disk superblock. veritysetup writes
// it at the start of the hash device and pads it with zeros to a whole hash
// block, so the tree starts at hash block 1.
const SuperblockSize = 512

// MaxSaltSize is the largest salt the superblock can hold.
const MaxSaltSize = 256

var magic = [8]byte{'v', 'e', 'r', 'i', 't', 'y', 0, 0}

// Errors callers can test for with errors.Is.
var (
	ErrBadMagic         = errors.New("no verity superblock (bad magic)")
	ErrUnknownAlgorithm = errors.New("unsupported hash algorithm")
	ErrSaltTooLong      = fmt.Errorf("salt longer than %d bytes", MaxSaltSize)
	ErrTruncated        = errors.New("truncated")
	ErrCorrupt          = errors.New("verification failed")
)

// Superblock is the header veritysetup writes in front of the hash tree
// (format version 1). On disk, little-endian:
//
//	off size field
//	  0    8 signature "verity\0\0"
//	  8    4 version (1)
//	 12    4 hash_type (1: leaf = H(salt ‖ block); 0, Chrome OS, is refused)
//	 16   16 uuid
//	 32   32 algorithm, NUL-padded ("sha256")
//	 64    4 data_block_size
//	 68    4 hash_block_size
//	 72    8 data_blocks
//	 80    2 salt_size
//	 82    6 padding
//	 88  256 salt, zero-padded
//	344  168 padding
type Superblock struct {
	UUID          [16]byte
	Algorithm     string
	DataBlockSize uint32
	HashBlockSize uint32
	DataBlocks    uint64
	Salt          []byte
}

// Version and hash type of the only format this package reads and writes.
const (
	formatVersion = 1
	hashType      = 1
)

// ParseSuperblock decodes and checks a superblock. It refuses what
// veritysetup refuses (bad magic, other versions, bad block sizes, salts over
// 256 bytes) and, in addition, the legacy hash type 0 and hash algorithms
// this package cannot compute.
func ParseSuperblock(b []byte) (Superblock, error) {
	if len(b) < SuperblockSize {
		return Superblock{}, fmt.Errorf("verity superblock: %w: %d bytes, want %d", ErrTruncated, len(b), SuperblockSize)
	}
	if !bytes.Equal(b[0:8], magic[:]) {
		return Superblock{}, fmt.Errorf("verity superblock: %w: starts with %q", ErrBadMagic, b[0:8])
	}
	le := binary.LittleEndian
	if v := le.Uint32(b[8:]); v != formatVersion {
		return Superblock{}, fmt.Errorf("verity superblock: unsupported version %d, want %d", v, formatVersion)
	}
	if t := le.Uint32(b[12:]); t != hashType {
		return Superblock{}, fmt.Errorf("verity superblock: unsupported hash type %d, want %d (salt before data)", t, hashType)
	}
	var s Superblock
	copy(s.UUID[:], b[16:32])
	alg := b[32:64]
	if i := bytes.IndexByte(alg, 0); i >= 0 {
		alg = alg[:i]
	}
	s.Algorithm = string(alg)
	if _, err := newHash(s.Algorithm); err != nil {
		return Superblock{}, fmt.Errorf("verity superblock: %w", err)
	}
	s.DataBlockSize = le.Uint32(b[64:])
	s.HashBlockSize = le.Uint32(b[68:])
	s.DataBlocks = le.Uint64(b[72:])
	for _, c := range []struct {
		what string
		n    uint32
	}{{"data", s.DataBlockSize}, {"hash", s.HashBlockSize}} {
		if err := checkBlockSize(c.what, int(c.n)); err != nil {
			return Superblock{}, fmt.Errorf("verity superblock: %w", err)
		}
	}
	if s.DataBlocks == 0 {
		return Superblock{}, errors.New("verity superblock: zero data blocks")
	}
	n := int(le.Uint16(b[80:]))
	if n > MaxSaltSize {
		return Superblock{}, fmt.Errorf("verity superblock: %w: salt_size is %d", ErrSaltTooLong, n)
	}
	s.Salt = bytes.Clone(b[88 : 88+n])
	return s, nil
}

// MarshalBinary encodes the superblock as its 512 on-disk bytes.
func (s Superblock) MarshalBinary() ([]byte, error) {
	if len(s.Salt) > MaxSaltSize {
		return nil, fmt.Errorf("verity superblock: %w: %d bytes", ErrSaltTooLong, len(s.Salt))
	}
	if len(s.Algorithm) == 0 || len(s.Algorithm) > 31 || bytes.IndexByte([]byte(s.Algorithm), 0) >= 0 {
		return nil, fmt.Errorf("verity superblock: algorithm name %q: want 1 to 31 bytes without NUL", s.Algorithm)
	}
	b := make([]byte, SuperblockSize)
	le := binary.LittleEndian
	copy(b, magic[:])
	le.PutUint32(b[8:], formatVersion)
	le.PutUint32(b[12:], hashType)
	copy(b[16:], s.UUID[:])
	copy(b[32:], s.Algorithm)
	le.PutUint32(b[64:], s.DataBlockSize)
	le.PutUint32(b[68:], s.HashBlockSize)
	le.PutUint64(b[72:], s.DataBlocks)
	le.PutUint16(b[80:], uint16(len(s.Salt)))
	copy(b[88:], s.Salt)
	return b, nil
}

// Geometry is the tree shape the superblock describes.
func (s Superblock) Geometry() (Geometry, error) {
	ds, err := DigestSize(s.Algorithm)
	if err != nil {
		return Geometry{}, err
	}
	return NewGeometry(s.DataBlocks, int(s.DataBlockSize), int(s.HashBlockSize), ds)
}
