package erofs

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/hardenvm/hardenvm/pkg/fstree"
	"github.com/hardenvm/hardenvm/pkg/lz4"
)

// Compression selects how regular files' data is stored.
type Compression uint8

// The compressions Write knows. The zero value stores data as it is.
const (
	CompressNone  Compression = iota
	CompressLZ4               // LZ4, one hash probe per position: fast
	CompressLZ4HC             // LZ4 with a deeper match search: smaller, slower to write, as fast to read
)

// Compressions names every Compression as the image spec spells it.
var Compressions = []string{"none", "lz4", "lz4hc"}

func (c Compression) String() string {
	if int(c) < len(Compressions) {
		return Compressions[c]
	}
	return fmt.Sprintf("Compression(%d)", uint8(c))
}

// ParseCompression maps a spec value ("none", "lz4", "lz4hc") to a
// Compression.
func ParseCompression(s string) (Compression, error) {
	for i, n := range Compressions {
		if s == n {
			return Compression(i), nil
		}
	}
	return 0, fmt.Errorf("unknown compression %q (want one of %s)", s, strings.Join(Compressions, ", "))
}

// On-disk constants of compressed files (linux fs/erofs/erofs_fs.h).
const (
	featureIncompatZeroPadding = 0x1 // compressed data end-aligned in its pcluster
	featureIncompatComprCfgs   = 0x2 // per-algorithm records after the superblock (also: big pclusters)

	layoutCompressedFull = 1

	adviseBigPcluster1 = 0x2

	lclusterPlain   = 0
	lclusterHead1   = 1
	lclusterNonHead = 2
	d0CblkCnt       = 1 << 11

	mapHeaderSize = 8
	indexSize     = 8
	// lz4CfgsLen is the LZ4 record after the superblock: a 2-byte length
	// and struct z_erofs_lz4_cfgs (14 bytes).
	lz4CfgsLen = 16

	// DefaultPclusterBlocks is the physical cluster (the unit one
	// decompression reads) Write uses unless told: 16 KiB holds about half
	// again as much as a single block, at a small cost in random reads.
	DefaultPclusterBlocks = 4
	maxExtent             = 1 << 20 // decompressed bytes per pcluster at most
)

// zfile is a regular file's data compressed: pclusters of whole blocks,
// one extent each, in file order, kept as the segments that were
// compressed apart (see segmentSize).
type zfile struct {
	parts   []zpart
	nblocks uint64
	extents []zextent // in file order, every part's
}

// zpart is one segment of a file compressed: its extents (starts
// relative to the file) and its pclusters, back to back, kept in the
// spill until the data area is written.
type zpart struct {
	extents []zextent
	nblocks uint64
	stored  fstree.Content
}

type zextent struct {
	start  uint64 // first byte of the file it holds
	blocks uint32 // pcluster length in blocks
	plain  bool   // stored as is (one block)
}

func (z *zfile) blocks() uint64 { return z.nblocks }

// segmentSize is how much of a file one worker compresses alone. Larger
// files are cut at every multiple of it (a block multiple, so a segment
// starts a new lcluster) and the segments compressed apart, so that the
// engine's binaries, tens of MB each, keep every CPU busy instead of
// one. The cuts depend only on the file's size, so the bytes do not
// depend on the number of CPUs. A pcluster ends at each cut, which the
// format allows (every pcluster decompresses on its own); the last
// pcluster of a segment is on average half full, about 0.1% of the
// compressed size at 4 MiB.
const segmentSize = 4 << 20

// indexLen is the size of the map header and full lcluster indexes of a
// file of size bytes whose inode and xattrs end at metaEnd (relative to
// an 8-aligned position).
func indexLen(metaEnd int, size uint64) int {
	pad := (metaEnd+7)/8*8 - metaEnd
	return pad + mapHeaderSize + 8 + indexSize*int((size+BlockSize-1)/BlockSize)
}

// zjob is one segment to compress: bytes [off, off+n) of files[f],
// its part-th.
type zjob struct {
	f      int
	part   int
	off, n int64
}

// compressAll compresses every regular file worth it, on every CPU, one
// segment (see segmentSize) at a time, the largest first so that no
// long one is left running alone at the end. Each segment is compressed
// alone, so the result does not depend on the order the workers pick
// them in. Files whose compressed form would not be smaller keep ino.z
// nil and are stored flat. The compressed bytes wait in spill until the
// data area is written, so memory holds one segment per worker, not the
// image.
func (b *builder) compressAll(c Compression, pblocks int, seg int64, spill *fstree.Spill) error {
	var files []*inode
	var parts [][]zpart
	var jobs []zjob
	for _, ino := range b.inodes {
		size := ino.node.Size()
		if ino.node.Type != fstree.Regular || size <= BlockSize { // one block can't save
			continue
		}
		n := int((size + seg - 1) / seg)
		for i := range n {
			jobs = append(jobs, zjob{f: len(files), part: i, off: int64(i) * seg, n: min(seg, size-int64(i)*seg)})
		}
		files = append(files, ino)
		parts = append(parts, make([]zpart, n))
	}
	slices.SortStableFunc(jobs, func(a, b zjob) int { return cmp.Compare(b.n, a.n) })
	level := lz4.Fast
	if c == CompressLZ4HC {
		level = lz4.High
	}
	next := make(chan int)
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(jobs), 1)) {
		wg.Go(func() {
			zc := &zcompressor{lz: lz4.New(level), pblocks: pblocks}
			for j := range next {
				job := jobs[j]
				ino := files[job.f]
				p, err := zc.segment(ino.node.Content, job.off, job.n, ino.node.Size())
				if err == nil {
					p.stored, err = spill.Store(bytes.NewReader(zc.data), int64(len(zc.data)))
				}
				if err != nil {
					errs[j] = fmt.Errorf("erofs: %s: %w", ino.path, err)
					continue
				}
				parts[job.f][job.part] = p
			}
		})
	}
	for j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	for i, ino := range files {
		z := &zfile{parts: parts[i]}
		for _, p := range z.parts {
			z.nblocks += p.nblocks
			z.extents = append(z.extents, p.extents...)
		}
		if pays(z.nblocks, ino.node.Size()) {
			ino.z = z
		}
	}
	return nil
}

// pays says whether a file of size bytes is smaller compressed into
// nblocks blocks of pclusters than flat: flat, it takes its size (whole
// blocks and an inline tail); compressed, its pclusters and indexes.
func pays(nblocks uint64, size int64) bool {
	return int64(nblocks)*BlockSize+int64(indexLen(0, uint64(size))) < size
}

type zcompressor struct {
	lz      *lz4.Compressor
	pblocks int
	buf     []byte
	out     []byte
	data    []byte // the last segment's pclusters, reused
}

// segment reads n bytes of content (a file of size bytes) from off, a
// block multiple, and compresses them into pclusters filled to the brim:
// each takes as much input as fits into pblocks blocks, like mkfs.erofs.
// A pcluster that would not save a block over storing its input as is
// becomes a plain one-block pcluster instead. The pclusters are left in
// zc.data.
func (zc *zcompressor) segment(c fstree.Content, off, n, size int64) (zpart, error) {
	r, err := c.Open()
	if err != nil {
		return zpart{}, err
	}
	defer r.Close()
	if off > 0 {
		if s, ok := r.(io.Seeker); ok {
			_, err = s.Seek(off, io.SeekStart)
		} else {
			_, err = io.CopyN(io.Discard, r, off)
		}
		if err != nil {
			return zpart{}, fmt.Errorf("skipping to %d of %d bytes: %w", off, size, err)
		}
	}
	if cap(zc.buf) < 2*maxExtent {
		zc.buf = make([]byte, 2*maxExtent)
		zc.out = make([]byte, zc.pblocks*BlockSize)
	}
	buf := zc.buf[:0]
	var p zpart
	zc.data = zc.data[:0]
	end := off + n
	read, done := off, off // file offsets: read from r, compressed
	for done < end {
		// Keep a full extent's worth ahead of the cursor.
		if int64(len(buf)) < maxExtent && read < end {
			k := copy(zc.buf, buf)
			buf = zc.buf[:k]
			want := min(int64(cap(zc.buf)-k), end-read)
			m, err := io.ReadFull(r, zc.buf[k:k+int(want)])
			read += int64(m)
			if err != nil {
				return zpart{}, fmt.Errorf("read %d of %d bytes: %w", read, size, err)
			}
			buf = zc.buf[:k+m]
		}
		src := buf[:min(len(buf), maxExtent)]
		cn, used := zc.lz.CompressPrefix(zc.out, src)
		blocks := (cn + BlockSize - 1) / BlockSize
		if blocks < (used+BlockSize-1)/BlockSize && used > BlockSize {
			// End-aligned (0PADDING): the kernel finds the start by
			// skipping the zeros in front.
			p.extents = append(p.extents, zextent{start: uint64(done), blocks: uint32(blocks)})
			start := len(zc.data)
			zc.data = append(zc.data, make([]byte, blocks*BlockSize)...)
			copy(zc.data[start+blocks*BlockSize-cn:], zc.out[:cn])
		} else {
			used = min(len(src), BlockSize)
			// The kernel maps a read in the file's last lcluster, when
			// no extent starts there, up to that lcluster's end, and
			// refuses a plain extent longer than its block: so the last
			// plain extent does not cross into a lcluster of its own.
			if c := int(done % BlockSize); c > 0 && int64(used) == size-done && used > BlockSize-c {
				used = BlockSize - c
			}
			p.extents = append(p.extents, zextent{start: uint64(done), blocks: 1, plain: true})
			start := len(zc.data)
			zc.data = append(zc.data, make([]byte, BlockSize)...)
			copy(zc.data[start:], src[:used])
		}
		buf = buf[used:]
		done += int64(used)
	}
	if end == size {
		if m, _ := r.Read(make([]byte, 1)); m > 0 {
			return zpart{}, fmt.Errorf("content longer than the declared %d bytes", size)
		}
	}
	p.nblocks = uint64(len(zc.data)) / BlockSize
	return p, nil
}

// putIndex writes the map header and one full lcluster index per logical
// block of the file into b. blkaddr is the first pcluster's block.
func putIndex(b []byte, z *zfile, size uint64, blkaddr uint32, pad int) {
	le := binary.LittleEndian
	clear(b[:pad+mapHeaderSize+8])
	h := b[pad:]
	le.PutUint16(h[4:], adviseBigPcluster1) // h_advise
	h[6] = 0                                // h_algorithmtype: LZ4 for HEAD1
	h[7] = 0                                // h_clusterbits: lclusters of one block
	idx := h[mapHeaderSize+8:]
	n := int((size + BlockSize - 1) / BlockSize)
	// head[i] is the extent whose head is in lcluster i, or -1.
	addr := blkaddr
	e := 0
	for lcn := range n {
		d := idx[lcn*indexSize:][:indexSize]
		lo := uint64(lcn) * BlockSize
		if e < len(z.extents) && z.extents[e].start < lo+BlockSize {
			// HEAD: an extent starts in this lcluster.
			x := z.extents[e]
			typ := uint16(lclusterHead1)
			if x.plain {
				typ = lclusterPlain
			}
			le.PutUint16(d[0:], typ)
			le.PutUint16(d[2:], uint16(x.start-lo))
			le.PutUint32(d[4:], addr)
			addr += x.blocks
			e++
			continue
		}
		// NONHEAD: inside extent e-1.
		head := int(z.extents[e-1].start / BlockSize)
		nextHead := n
		if e < len(z.extents) {
			nextHead = int(z.extents[e].start / BlockSize)
		}
		d0 := uint16(lcn - head)
		if d0 == 1 {
			d0 = d0CblkCnt | uint16(z.extents[e-1].blocks)
		}
		le.PutUint16(d[0:], lclusterNonHead)
		le.PutUint16(d[2:], 0)
		le.PutUint16(d[4:], d0)
		le.PutUint16(d[6:], uint16(nextHead-lcn))
	}
}
