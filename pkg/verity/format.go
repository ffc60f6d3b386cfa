package verity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
)

// Params says how to format. The zero value is veritysetup's defaults
// (sha256, 4096-byte blocks) with salt and UUID derived from the data.
type Params struct {
	// Algorithm is the hash algorithm; "" means sha256.
	Algorithm string
	// DataBlockSize and HashBlockSize are in bytes; 0 means 4096.
	DataBlockSize, HashBlockSize int
	// Salt is used as given when not nil (an empty, non-nil slice means no
	// salt, like veritysetup --salt=-). When nil it is derived from the data:
	// see the package documentation.
	Salt []byte
	// UUID is written to the superblock; the zero UUID means derive it.
	UUID [16]byte
	// Workers is the number of hashing goroutines; 0 means GOMAXPROCS.
	Workers int
}

// Result describes a formatted (or verified) hash tree: everything needed
// to map the device, and to describe it in a manifest.
type Result struct {
	RootHash      []byte
	Salt          []byte
	UUID          [16]byte
	Algorithm     string
	DataBlockSize int
	HashBlockSize int
	DataBlocks    uint64
	// HashBlocks counts the tree's blocks, without the superblock.
	HashBlocks uint64
	// HashStartBlock is where the tree starts on the hash device, in hash
	// blocks: 1, after the superblock. It goes into the kernel table.
	HashStartBlock uint64
	// HashSize is the length of the hash file: superblock block and tree.
	HashSize int64
}

// Superblock returns the superblock that describes r.
func (r Result) Superblock() Superblock {
	return Superblock{UUID: r.UUID, Algorithm: r.Algorithm, DataBlockSize: uint32(r.DataBlockSize),
		HashBlockSize: uint32(r.HashBlockSize), DataBlocks: r.DataBlocks, Salt: r.Salt}
}

// Result describes the tree that s heads, with the given root hash (which
// the superblock does not store; nil when unknown).
func (s Superblock) Result(rootHash []byte) (Result, error) {
	g, err := s.Geometry()
	if err != nil {
		return Result{}, err
	}
	return resultFor(s, g, rootHash), nil
}

func resultFor(sb Superblock, g Geometry, root []byte) Result {
	return Result{RootHash: root, Salt: sb.Salt, UUID: sb.UUID, Algorithm: sb.Algorithm,
		DataBlockSize: g.DataBlockSize, HashBlockSize: g.HashBlockSize, DataBlocks: g.DataBlocks,
		HashBlocks: g.HashBlocks(), HashStartBlock: 1, HashSize: int64(1+g.HashBlocks()) * int64(g.HashBlockSize)}
}

// ErrUnaligned is returned by Format for data whose size is not a multiple
// of the data block size. veritysetup silently leaves such a tail
// unprotected; we refuse instead.
var ErrUnaligned = errors.New("data size is not a multiple of the data block size")

func (p Params) withDefaults() (Params, error) {
	if p.Algorithm == "" {
		p.Algorithm = DefaultAlgorithm
	}
	if p.DataBlockSize == 0 {
		p.DataBlockSize = 4096
	}
	if p.HashBlockSize == 0 {
		p.HashBlockSize = 4096
	}
	if p.Workers <= 0 {
		p.Workers = runtime.GOMAXPROCS(0)
	}
	if len(p.Salt) > MaxSaltSize {
		return p, fmt.Errorf("verity: %w: got %d bytes", ErrSaltTooLong, len(p.Salt))
	}
	return p, nil
}

// Format computes the hash tree of the first size bytes of data and writes
// superblock and tree to hash, from offset 0 to Result.HashSize. It reads
// data with ReadAt from several goroutines at once, and writes each region
// of hash once (bottom level first, superblock last); hash should be empty
// or fully overwritable; nil computes the result without writing anything.
// Memory use is bounded (a few MiB) whatever size is.
//
// The result is byte for byte what `veritysetup format` writes given the
// same salt and UUID (--salt, --uuid). Unlike veritysetup, Format refuses a
// size that is not a multiple of the data block size (ErrUnaligned).
func Format(ctx context.Context, data io.ReaderAt, size int64, hash io.WriterAt, p Params) (Result, error) {
	p, err := p.withDefaults()
	if err != nil {
		return Result{}, err
	}
	newH, err := newHash(p.Algorithm)
	if err != nil {
		return Result{}, fmt.Errorf("verity: %w", err)
	}
	if err := checkBlockSize("data", p.DataBlockSize); err != nil {
		return Result{}, err
	}
	if size <= 0 {
		return Result{}, fmt.Errorf("verity: data is empty (%d bytes)", size)
	}
	if size%int64(p.DataBlockSize) != 0 {
		return Result{}, fmt.Errorf("verity: %w: %d bytes is %d blocks of %d and %d bytes more; pad the data with zeros to %d bytes",
			ErrUnaligned, size, size/int64(p.DataBlockSize), p.DataBlockSize, size%int64(p.DataBlockSize),
			(size/int64(p.DataBlockSize)+1)*int64(p.DataBlockSize))
	}
	g, err := NewGeometry(uint64(size/int64(p.DataBlockSize)), p.DataBlockSize, p.HashBlockSize, newH().Size())
	if err != nil {
		return Result{}, err
	}
	salt := p.Salt
	if salt == nil {
		r0, err := buildTree(ctx, data, g, newH, nil, p.Workers, nil, 0)
		if err != nil {
			return Result{}, fmt.Errorf("verity: deriving the salt: %w", err)
		}
		salt = DeriveSalt(g, p.Algorithm, r0)
	}
	root, err := buildTree(ctx, data, g, newH, salt, p.Workers, hash, int64(g.HashBlockSize))
	if err != nil {
		return Result{}, fmt.Errorf("verity: %w", err)
	}
	sb := Superblock{UUID: p.UUID, Algorithm: p.Algorithm, DataBlockSize: uint32(g.DataBlockSize),
		HashBlockSize: uint32(g.HashBlockSize), DataBlocks: g.DataBlocks, Salt: salt}
	if sb.UUID == ([16]byte{}) {
		sb.UUID = DeriveUUID(salt, root)
	}
	b, err := sb.MarshalBinary()
	if err != nil {
		return Result{}, err
	}
	if hash != nil {
		block := make([]byte, g.HashBlockSize)
		copy(block, b)
		if _, err := hash.WriteAt(block, 0); err != nil {
			return Result{}, fmt.Errorf("verity: writing the superblock: %w", err)
		}
	}
	return resultFor(sb, g, root), nil
}
