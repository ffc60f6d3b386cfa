package verity

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"

	"github.com/hardenvm/hardenvm/pkg/verity/internal/sha256x16"
)

// chunkBytes is how much data one worker reads and hashes at a time. Memory
// in flight is about workers × chunkBytes.
const chunkBytes = 2 << 20

// useX16 says whether sha256 trees are hashed sixteen blocks at a time with
// AVX-512 (package sha256x16) where the CPU has it. Tests turn it off to
// check both paths against each other.
var useX16 = sha256x16.Available

// blockHasher computes H(salt ‖ block), the digest of hash type 1.
type blockHasher struct {
	h     hash.Hash
	salt  []byte
	x16   *sha256x16.Hasher // for runs of blocks of x16bs bytes, when sha256
	x16bs int
}

func newBlockHasher(newH func() hash.Hash, salt []byte) *blockHasher {
	return &blockHasher{h: newH(), salt: salt}
}

// vector returns the sixteen-lane hasher for bs-byte blocks, or nil.
func (b *blockHasher) vector(bs int) *sha256x16.Hasher {
	// Of the algorithms this package supports, only sha256 has this shape
	// (TestOnlySHA256HasItsShape).
	if !useX16 || b.h.Size() != sha256.Size || b.h.BlockSize() != sha256.BlockSize {
		return nil
	}
	if b.x16 == nil || b.x16bs != bs {
		x, err := sha256x16.New(b.salt, bs)
		if err != nil {
			return nil
		}
		b.x16, b.x16bs = x, bs
	}
	return b.x16
}

// sum writes the digest of block to dst, which must have room for it.
func (b *blockHasher) sum(dst, block []byte) {
	b.h.Reset()
	b.h.Write(b.salt)
	b.h.Write(block)
	b.h.Sum(dst[:0])
}

// sumBlocks hashes the consecutive blocks of src (each bs bytes) into dst,
// one digest per slot bytes. Slot padding is left as it is in dst.
func (b *blockHasher) sumBlocks(dst, src []byte, bs, slot int) {
	i := 0
	if x := b.vector(bs); x != nil {
		for ; len(src) >= sha256x16.Lanes*bs; i += sha256x16.Lanes {
			x.Sum(dst[i*slot:], slot, src[:sha256x16.Lanes*bs])
			src = src[sha256x16.Lanes*bs:]
		}
	}
	for ; len(src) > 0; i++ {
		b.sum(dst[i*slot:], src[:bs])
		src = src[bs:]
	}
}

// readFull reads len(p) bytes at off, treating io.EOF after a full read as
// success (io.ReaderAt allows either).
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// blockRange is a run of count blocks of size bs at offset off of r.
type blockRange struct {
	r     io.ReaderAt
	off   int64
	bs    int
	count uint64
}

func (br blockRange) perChunk() uint64 { return uint64(max(1, chunkBytes/br.bs)) }

func (br blockRange) chunks() int64 {
	return int64((br.count + br.perChunk() - 1) / br.perChunk())
}

// span returns the first block and the number of blocks of a chunk.
func (br blockRange) span(chunk int64) (first, n uint64) {
	first = uint64(chunk) * br.perChunk()
	return first, min(br.perChunk(), br.count-first)
}

// digestRange hashes every block of src in parallel and passes the digests,
// in block order and slot bytes apart, to sink. The slices sink gets are
// reused afterwards.
func digestRange(ctx context.Context, src blockRange, g Geometry, newH func() hash.Hash, salt []byte, workers int,
	sink func(digests []byte) error) error {
	slot := g.DigestSlot
	pool := make(chan []byte, 4*workers)
	newWorker := func() func(int64) ([]byte, error) {
		bh := newBlockHasher(newH, salt)
		buf := make([]byte, int(src.perChunk())*src.bs)
		return func(chunk int64) ([]byte, error) {
			first, n := src.span(chunk)
			p := buf[:int(n)*src.bs]
			if err := readFull(src.r, p, src.off+int64(first)*int64(src.bs)); err != nil {
				return nil, fmt.Errorf("reading blocks %d-%d: %w", first, first+n-1, err)
			}
			var out []byte
			select {
			case out = <-pool:
			default:
				out = make([]byte, int(src.perChunk())*slot) // zero slot padding
			}
			bh.sumBlocks(out, p, src.bs, slot)
			return out[:int(n)*slot], nil
		}
	}
	return ordered(ctx, src.chunks(), workers, newWorker, func(_ int64, out []byte) error {
		err := sink(out)
		select {
		case pool <- out[:cap(out)]:
		default:
		}
		return err
	})
}

// treeWriter builds the levels above the data digests as they stream in,
// keeping one partly filled run of blocks per level, and writes each run to
// its place in the hash area as soon as it is complete. So Format never
// holds more than a few blocks per level, whatever the data size.
type treeWriter struct {
	g     Geometry
	bh    *blockHasher
	w     io.WriterAt // nil: compute the root only
	base  int64       // offset of the tree (the block after the superblock) in w
	acc   []levelAcc
	root  []byte
	slot  []byte // one digest slot, padding zero
	batch int    // hash blocks written per WriteAt
}

type levelAcc struct {
	buf     []byte // batch blocks
	nb      int    // complete blocks in buf
	fill    int    // bytes used in block nb
	written uint64 // blocks of this level written so far
	pushed  uint64 // digests received
}

func newTreeWriter(g Geometry, newH func() hash.Hash, salt []byte, w io.WriterAt, base int64) *treeWriter {
	t := &treeWriter{g: g, bh: newBlockHasher(newH, salt), w: w, base: base,
		slot: make([]byte, g.DigestSlot), batch: max(1, (256<<10)/g.HashBlockSize)}
	t.acc = make([]levelAcc, len(g.Levels))
	for i := range t.acc {
		n := min(uint64(t.batch), g.Levels[i].Blocks)
		t.acc[i].buf = make([]byte, int(n)*g.HashBlockSize)
	}
	return t
}

// push adds digests (slot bytes each) of consecutive children of level i.
// Level len(Levels) is the root.
func (t *treeWriter) push(i int, d []byte) error {
	if i == len(t.g.Levels) {
		if t.root != nil || len(d) != t.g.DigestSlot {
			return fmt.Errorf("BUG: verity: %d bytes of root digests", len(d))
		}
		t.root = append([]byte(nil), d[:t.g.DigestSize]...)
		return nil
	}
	a := &t.acc[i]
	hbs := t.g.HashBlockSize
	a.pushed += uint64(len(d) / t.g.DigestSlot)
	for len(d) > 0 {
		cur := a.buf[a.nb*hbs : (a.nb+1)*hbs]
		n := copy(cur[a.fill:], d)
		a.fill += n
		d = d[n:]
		if a.fill == hbs {
			if err := t.finishBlock(i); err != nil {
				return err
			}
		}
	}
	return nil
}

// finishBlock zero-pads the current block of level i, passes its digest up
// and writes the run when it is full (or when final).
func (t *treeWriter) finishBlock(i int) error {
	a := &t.acc[i]
	hbs := t.g.HashBlockSize
	cur := a.buf[a.nb*hbs : (a.nb+1)*hbs]
	clear(cur[a.fill:])
	t.bh.sum(t.slot, cur)
	a.nb++
	a.fill = 0
	if a.nb*hbs == len(a.buf) || a.written+uint64(a.nb) == t.g.Levels[i].Blocks {
		if err := t.flush(i); err != nil {
			return err
		}
	}
	return t.push(i+1, t.slot)
}

func (t *treeWriter) flush(i int) error {
	a := &t.acc[i]
	if a.nb == 0 {
		return nil
	}
	if t.w != nil {
		hbs := int64(t.g.HashBlockSize)
		off := t.base + int64(t.g.Levels[i].Start+a.written)*hbs
		if _, err := t.w.WriteAt(a.buf[:a.nb*int(hbs)], off); err != nil {
			return fmt.Errorf("writing hash blocks at offset %d: %w", off, err)
		}
	}
	a.written += uint64(a.nb)
	a.nb = 0
	return nil
}

// finish completes the partly filled last block of every level, bottom up,
// checks that every level came out the size the geometry says, and returns
// the root hash.
func (t *treeWriter) finish() ([]byte, error) {
	for i := range t.acc {
		if t.acc[i].fill > 0 {
			if err := t.finishBlock(i); err != nil {
				return nil, err
			}
		}
		if err := t.flush(i); err != nil {
			return nil, err
		}
		if got, want := t.acc[i].written, t.g.Levels[i].Blocks; got != want {
			return nil, fmt.Errorf("BUG: verity: level %d: wrote %d blocks, want %d", i, got, want)
		}
		if got, want := t.acc[i].pushed, t.g.children(i); got != want {
			return nil, fmt.Errorf("BUG: verity: level %d: hashed %d children, want %d", i, got, want)
		}
	}
	if t.root == nil {
		return nil, fmt.Errorf("BUG: verity: no root hash")
	}
	return t.root, nil
}

// buildTree hashes the data and writes the tree (when w is not nil) at
// offset base of w, returning the root hash.
func buildTree(ctx context.Context, data io.ReaderAt, g Geometry, newH func() hash.Hash, salt []byte, workers int,
	w io.WriterAt, base int64) ([]byte, error) {
	t := newTreeWriter(g, newH, salt, w, base)
	src := blockRange{r: data, bs: g.DataBlockSize, count: g.DataBlocks}
	if err := digestRange(ctx, src, g, newH, salt, workers, func(d []byte) error { return t.push(0, d) }); err != nil {
		return nil, err
	}
	return t.finish()
}
