package erofs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
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
// one extent each, in file order.
type zfile struct {
	data    []byte         // every pcluster, back to back, while compressing
	stored  fstree.Content // the same, kept until written
	nblocks uint64
	extents []zextent // in file order
}

type zextent struct {
	start  uint64 // first byte of the file it holds
	blocks uint32 // pcluster length in blocks
	plain  bool   // stored as is (one block)
}

func (z *zfile) blocks() uint64 { return z.nblocks }

// indexLen is the size of the map header and full lcluster indexes of a
// file of size bytes whose inode and xattrs end at metaEnd (relative to
// an 8-aligned position).
func indexLen(metaEnd int, size uint64) int {
	pad := (metaEnd+7)/8*8 - metaEnd
	return pad + mapHeaderSize + 8 + indexSize*int((size+BlockSize-1)/BlockSize)
}

// compressAll compresses every regular file worth it, on every CPU. Each
// file is compressed alone, so the result does not depend on the order the
// workers pick files in. Files whose compressed form would not be smaller
// keep ino.z nil and are stored flat. The compressed bytes wait in
// spill until the data area is written, so memory holds one file per
// worker, not the image.
func (b *builder) compressAll(c Compression, pblocks int, spill *fstree.Spill) error {
	var todo []*inode
	for _, ino := range b.inodes {
		if ino.node.Type == fstree.Regular && ino.node.Size() > BlockSize { // one block can't save
			todo = append(todo, ino)
		}
	}
	level := lz4.Fast
	if c == CompressLZ4HC {
		level = lz4.High
	}
	next := make(chan *inode)
	errs := make([]error, len(todo))
	idx := map[*inode]int{}
	for i, ino := range todo {
		idx[ino] = i
	}
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(todo), 1)) {
		wg.Go(func() {
			zc := &zcompressor{lz: lz4.New(level), pblocks: pblocks}
			for ino := range next {
				z, err := zc.file(ino.node.Content, ino.node.Size())
				if err == nil && z != nil {
					z.nblocks = uint64(len(z.data)) / BlockSize
					z.stored, err = spill.Store(bytes.NewReader(z.data), int64(len(z.data)))
					zc.data, z.data = z.data[:0], nil
				}
				if err != nil {
					errs[idx[ino]] = fmt.Errorf("erofs: %s: %w", ino.path, err)
					continue
				}
				ino.z = z
			}
		})
	}
	for _, ino := range todo {
		next <- ino
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

type zcompressor struct {
	lz      *lz4.Compressor
	pblocks int
	buf     []byte
	out     []byte
	data    []byte // the last file's pclusters, reused
}

// file reads content (size bytes) and compresses it into pclusters
// filled to the brim: each takes as much input as fits into pblocks
// blocks, like mkfs.erofs. A pcluster that would not save a block over
// storing its input as is becomes a plain one-block pcluster instead. It
// returns nil when the whole file would take no fewer bytes than stored
// flat.
func (zc *zcompressor) file(c fstree.Content, size int64) (*zfile, error) {
	r, err := c.Open()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if cap(zc.buf) < 2*maxExtent {
		zc.buf = make([]byte, 2*maxExtent)
		zc.out = make([]byte, zc.pblocks*BlockSize)
	}
	buf := zc.buf[:0]
	z := &zfile{data: zc.data[:0]}
	var read, done int64 // bytes read from r, bytes compressed
	for done < size {
		// Keep a full extent's worth ahead of the cursor.
		if int64(len(buf)) < maxExtent && read < size {
			n := copy(zc.buf, buf)
			buf = zc.buf[:n]
			want := min(int64(cap(zc.buf)-n), size-read)
			m, err := io.ReadFull(r, zc.buf[n:n+int(want)])
			read += int64(m)
			if err != nil {
				return nil, fmt.Errorf("read %d of %d bytes: %w", read, size, err)
			}
			buf = zc.buf[:n+m]
		}
		src := buf[:min(len(buf), maxExtent)]
		n, used := zc.lz.CompressPrefix(zc.out, src)
		blocks := (n + BlockSize - 1) / BlockSize
		if blocks < (used+BlockSize-1)/BlockSize && used > BlockSize {
			// End-aligned (0PADDING): the kernel finds the start by
			// skipping the zeros in front.
			z.extents = append(z.extents, zextent{start: uint64(done), blocks: uint32(blocks)})
			start := len(z.data)
			z.data = append(z.data, make([]byte, blocks*BlockSize)...)
			copy(z.data[start+blocks*BlockSize-n:], zc.out[:n])
		} else {
			used = min(len(src), BlockSize)
			// The kernel maps a read in the file's last lcluster, when
			// no extent starts there, up to that lcluster's end, and
			// refuses a plain extent longer than its block: so the last
			// plain extent does not cross into a lcluster of its own.
			if c := int(done % BlockSize); c > 0 && int64(used) == size-done && used > BlockSize-c {
				used = BlockSize - c
			}
			z.extents = append(z.extents, zextent{start: uint64(done), blocks: 1, plain: true})
			start := len(z.data)
			z.data = append(z.data, make([]byte, BlockSize)...)
			copy(z.data[start:], src[:used])
		}
		buf = buf[used:]
		done += int64(used)
	}
	if n, _ := r.Read(make([]byte, 1)); n > 0 {
		return nil, fmt.Errorf("content longer than the declared %d bytes", size)
	}
	// Flat, the file takes its size (whole blocks and an inline tail);
	// compressed, its pclusters and indexes.
	if int64(len(z.data)+indexLen(0, uint64(size))) >= size {
		return nil, nil
	}
	return z, nil
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
