package verity

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"runtime"
)

// CorruptionError reports the first block that fails verification. It
// matches ErrCorrupt with errors.Is.
type CorruptionError struct {
	// Hash is true for a block of the hash tree, false for a data block.
	Hash bool
	// Block is the block's index on its device: a data block number, or a
	// hash block number counted from the start of the hash device (the
	// superblock is block 0).
	Block uint64
	// Level is the tree level of a hash block (0 is the bottom level).
	Level int
	// Offset is the byte offset of the block on its device.
	Offset int64
	Size   int
	// Reason says what was wrong.
	Reason string
}

func (e *CorruptionError) Error() string {
	if e.Hash {
		return fmt.Sprintf("hash block %d (tree level %d, bytes %d-%d of the hash device) %s",
			e.Block, e.Level, e.Offset, e.Offset+int64(e.Size)-1, e.Reason)
	}
	return fmt.Sprintf("data block %d (bytes %d-%d) %s", e.Block, e.Offset, e.Offset+int64(e.Size)-1, e.Reason)
}

func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

// ReadSuperblock reads and parses the superblock at the start of a hash
// device.
func ReadSuperblock(hash io.ReaderAt) (Superblock, error) {
	b := make([]byte, SuperblockSize)
	n, err := hash.ReadAt(b, 0)
	if n < SuperblockSize {
		if err == nil || err == io.EOF {
			return Superblock{}, fmt.Errorf("verity superblock: %w: the hash device has only %d bytes, want at least %d", ErrTruncated, n, SuperblockSize)
		}
		return Superblock{}, fmt.Errorf("verity superblock: %w", err)
	}
	return ParseSuperblock(b)
}

// Verify checks data against the hash tree on hash (superblock at offset 0)
// and the trusted rootHash, the way the kernel trusts blocks: top down. The
// top hash block is checked against rootHash, every other hash block against
// its already checked parent, and finally every data block against the
// bottom level. So the block named in a *CorruptionError is the one whose
// contents are wrong, whether it is data or hash.
//
// Like veritysetup, it also requires the unused tail of each level's last
// hash block to be zero. data may be longer than the tree covers; the rest
// is ignored, as the kernel does. The files must not change while Verify
// runs.
func Verify(ctx context.Context, data io.ReaderAt, dataSize int64, hash io.ReaderAt, hashSize int64, rootHash []byte) (Result, error) {
	sb, err := ReadSuperblock(hash)
	if err != nil {
		return Result{}, fmt.Errorf("verity: %w", err)
	}
	g, err := sb.Geometry()
	if err != nil {
		return Result{}, fmt.Errorf("verity: superblock: %w", err)
	}
	res := resultFor(sb, g, rootHash)
	if len(rootHash) != g.DigestSize {
		return res, fmt.Errorf("verity: root hash has %d bytes, want %d for %s", len(rootHash), g.DigestSize, sb.Algorithm)
	}
	if hashSize < res.HashSize {
		return res, fmt.Errorf("verity: hash device %w: %d bytes, but a tree for %d data blocks needs %d",
			ErrTruncated, hashSize, g.DataBlocks, res.HashSize)
	}
	if dataSize < g.DataSize() {
		return res, fmt.Errorf("verity: data %w: %d bytes, but the superblock covers %d blocks of %d (%d bytes)",
			ErrTruncated, dataSize, g.DataBlocks, g.DataBlockSize, g.DataSize())
	}
	newH, _ := newHash(sb.Algorithm) // ParseSuperblock checked it
	v := verifier{ctx: ctx, g: g, newH: newH, salt: sb.Salt, hash: hash, data: data, workers: runtime.GOMAXPROCS(0)}
	if err := v.run(rootHash); err != nil {
		return res, fmt.Errorf("verity: %w", err)
	}
	return res, nil
}

type verifier struct {
	ctx        context.Context
	g          Geometry
	newH       func() hash.Hash
	salt       []byte
	hash, data io.ReaderAt
	workers    int
}

// levelOffset is the byte offset of level i's first block on the hash device.
func (v *verifier) levelOffset(i int) int64 {
	return int64(1+v.g.Levels[i].Start) * int64(v.g.HashBlockSize)
}

func (v *verifier) run(root []byte) error {
	g := v.g
	top := len(g.Levels) - 1
	if top < 0 {
		// A single data block: the root hash is its digest.
		return v.check(blockRange{r: v.data, bs: g.DataBlockSize, count: 1}, nil, root, -1)
	}
	if err := v.check(blockRange{r: v.hash, off: v.levelOffset(top), bs: g.HashBlockSize, count: 1}, nil, root, top); err != nil {
		return err
	}
	for i := top; i >= 0; i-- {
		if err := v.checkPadding(i); err != nil {
			return err
		}
		parent := blockRange{r: v.hash, off: v.levelOffset(i), bs: g.HashBlockSize, count: g.Levels[i].Blocks}
		if i > 0 {
			child := blockRange{r: v.hash, off: v.levelOffset(i - 1), bs: g.HashBlockSize, count: g.Levels[i-1].Blocks}
			if err := v.check(child, &parent, nil, i-1); err != nil {
				return err
			}
			continue
		}
		if err := v.check(blockRange{r: v.data, bs: g.DataBlockSize, count: g.DataBlocks}, &parent, nil, -1); err != nil {
			return err
		}
	}
	return nil
}

// check hashes the blocks of src (level is their tree level, -1 for data)
// and compares each with its digest: the consecutive digest slots at the
// start of parent, or root when src is a single top block.
func (v *verifier) check(src blockRange, parent *blockRange, root []byte, level int) error {
	g := v.g
	slot := g.DigestSlot
	newWorker := func() func(int64) ([]byte, error) {
		bh := newBlockHasher(v.newH, v.salt)
		buf := make([]byte, int(src.perChunk())*src.bs)
		want := make([]byte, int(src.perChunk())*slot)
		got := make([]byte, int(src.perChunk())*slot)
		return func(chunk int64) ([]byte, error) {
			first, n := src.span(chunk)
			p := buf[:int(n)*src.bs]
			if err := readFull(src.r, p, src.off+int64(first)*int64(src.bs)); err != nil {
				return nil, fmt.Errorf("reading %s: %w", v.describe(level, first, n), err)
			}
			w := want[:int(n)*slot]
			if parent != nil {
				if err := readFull(parent.r, w, parent.off+int64(first)*int64(slot)); err != nil {
					return nil, fmt.Errorf("reading the digests of %s: %w", v.describe(level, first, n), err)
				}
			} else {
				copy(w, root)
			}
			bh.sumBlocks(got, p, src.bs, slot)
			for k := range int(n) {
				if subtle.ConstantTimeCompare(got[k*slot:k*slot+g.DigestSize], w[k*slot:k*slot+g.DigestSize]) != 1 {
					what := "does not match its digest in the tree"
					if parent == nil {
						what = "does not match the root hash " + hex.EncodeToString(root) + " (or that root hash is the wrong one)"
					}
					return nil, v.corrupt(level, first+uint64(k), what)
				}
			}
			return nil, nil
		}
	}
	return ordered(v.ctx, src.chunks(), v.workers, newWorker, func(int64, []byte) error { return nil })
}

// checkPadding requires the unused part of level i's last block to be zero.
func (v *verifier) checkPadding(i int) error {
	g := v.g
	l := g.Levels[i]
	used := g.children(i) - (l.Blocks-1)*uint64(g.HashesPerBlock)
	b := make([]byte, g.HashBlockSize)
	if err := readFull(v.hash, b, v.levelOffset(i)+int64(l.Blocks-1)*int64(g.HashBlockSize)); err != nil {
		return fmt.Errorf("reading %s: %w", v.describe(i, l.Blocks-1, 1), err)
	}
	for k := range int(used) {
		if !allZero(b[k*g.DigestSlot+g.DigestSize : (k+1)*g.DigestSlot]) {
			return v.corrupt(i, l.Blocks-1, "has non-zero padding after a digest")
		}
	}
	if !allZero(b[int(used)*g.DigestSlot:]) {
		return v.corrupt(i, l.Blocks-1, "has non-zero bytes after its last digest")
	}
	return nil
}

func allZero(b []byte) bool { return len(bytes.Trim(b, "\x00")) == 0 }

// corrupt builds the error for block k of a level (-1: data).
func (v *verifier) corrupt(level int, k uint64, reason string) *CorruptionError {
	if level < 0 {
		return &CorruptionError{Block: k, Level: -1, Offset: int64(k) * int64(v.g.DataBlockSize), Size: v.g.DataBlockSize, Reason: reason}
	}
	b := 1 + v.g.Levels[level].Start + k
	return &CorruptionError{Hash: true, Block: b, Level: level, Offset: int64(b) * int64(v.g.HashBlockSize), Size: v.g.HashBlockSize, Reason: reason}
}

func (v *verifier) describe(level int, first, n uint64) string {
	if level < 0 {
		return fmt.Sprintf("data blocks %d-%d", first, first+n-1)
	}
	b := 1 + v.g.Levels[level].Start + first
	return fmt.Sprintf("hash blocks %d-%d", b, b+n-1)
}
