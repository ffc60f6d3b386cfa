package erofs

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"slices"
	"time"

	"github.com/hardenvm/hardenvm/pkg/fstree"
)

// Options are the inputs of an image besides the tree. Nothing else (no
// clock, no randomness) goes into the bytes.
type Options struct {
	// Epoch is SOURCE_DATE_EPOCH: the image's build time, and the upper
	// bound of every mtime (later ones are clamped to it; unset ones take
	// it). Required.
	Epoch time.Time
	// UUID of the filesystem. Zero means: derived from the image's bytes
	// (see deriveUUID).
	UUID [16]byte
	// VolumeName, at most 16 bytes.
	VolumeName string
	// Compression of regular files; CompressNone (the zero value) writes
	// every file flat.
	Compression Compression
	// PclusterBlocks is the most blocks one compressed extent takes
	// (1..256); 0 means DefaultPclusterBlocks.
	PclusterBlocks int

	// segment overrides segmentSize (tests: small trees with many
	// segments).
	segment int64
}

// Image describes a written image.
type Image struct {
	Size   int64    // bytes, a multiple of BlockSize
	UUID   [16]byte // as written (given or derived)
	Inodes int
}

// ErrTooLarge reports an image past what 32-bit block addresses reach.
var ErrTooLarge = errors.New("erofs: image larger than 2^32 blocks")

type inode struct {
	node      *fstree.Node
	path      string // first name, for errors
	nlink     uint32
	extended  bool
	xattrs    []byte
	size      uint64
	layout    uint8
	inline    int    // tail bytes packed after the inode
	blocks    uint64 // whole data blocks
	blkaddr   uint32
	nid       uint64
	mtime     int64
	mtimeNsec uint32
	dir       []dirent // directories: entries in name order, "." and ".." included
	dirBlocks []int    // directories: index into dir of each block's first entry
	z         *zfile   // compressed regular files: the pclusters
	zmeta     int      // compressed regular files: map header and indexes after the xattrs
}

type dirent struct {
	name string
	ino  *inode
}

func (i *inode) isize() int {
	if i.extended {
		return extInodeSize
	}
	return compactInodeSize
}

// metaLen is the bytes the inode takes in the metadata area.
func (i *inode) metaLen() int { return i.isize() + len(i.xattrs) + i.inline + i.zmeta }

// Write writes t as an EROFS image to w from offset 0. w receives every
// byte of the image, zeros included, so a fresh file or a block device both
// work.
func Write(w io.WriterAt, t *fstree.Tree, opt Options) (Image, error) {
	size, uuid, inodes, err := write(w, t, opt)
	return Image{Size: size, UUID: uuid, Inodes: inodes}, err
}

func write(w io.WriterAt, t *fstree.Tree, opt Options) (_ int64, _ [16]byte, inodes int, _ error) {
	if opt.Epoch.IsZero() {
		return 0, [16]byte{}, 0, errors.New("erofs: Options.Epoch (SOURCE_DATE_EPOCH) is required")
	}
	if len(opt.VolumeName) > 16 {
		return 0, [16]byte{}, 0, fmt.Errorf("erofs: volume name %q longer than 16 bytes", opt.VolumeName)
	}
	if opt.Compression > CompressLZ4HC {
		return 0, [16]byte{}, 0, fmt.Errorf("erofs: unknown compression %d", opt.Compression)
	}
	pblocks := opt.PclusterBlocks
	if pblocks == 0 {
		pblocks = DefaultPclusterBlocks
	}
	if pblocks < 1 || pblocks > 256 {
		return 0, [16]byte{}, 0, fmt.Errorf("erofs: %d blocks per pcluster (want 1..256)", pblocks)
	}
	b := &builder{epoch: opt.Epoch, seen: map[*fstree.Node]*inode{}, metaStart: superOffset + superSize}
	root, err := b.collect("/", t.Root(), nil)
	if err != nil {
		return 0, [16]byte{}, 0, err
	}
	if opt.Compression != CompressNone {
		b.metaStart += lz4CfgsLen
		spill, err := fstree.NewSpill("")
		if err != nil {
			return 0, [16]byte{}, 0, fmt.Errorf("erofs: %w", err)
		}
		defer spill.Close()
		seg := int64(segmentSize)
		if opt.segment > 0 {
			seg = opt.segment
		}
		if err := b.compressAll(opt.Compression, pblocks, seg, spill); err != nil {
			return 0, [16]byte{}, 0, err
		}
	}
	for _, ino := range b.inodes {
		if err := b.shape(ino); err != nil {
			return 0, [16]byte{}, 0, err
		}
	}
	metaEnd := b.place()
	if root.nid > 0xffff {
		return 0, [16]byte{}, 0, fmt.Errorf("BUG: erofs: root nid %d does not fit 16 bits", root.nid)
	}
	next := uint64(metaEnd+BlockSize-1) / BlockSize
	for _, ino := range b.inodes {
		if ino.blocks > 0 {
			if next > 1<<32-1 {
				return 0, [16]byte{}, 0, ErrTooLarge
			}
			ino.blkaddr = uint32(next)
			next += ino.blocks
		}
	}
	if next > 1<<32-1 {
		return 0, [16]byte{}, 0, ErrTooLarge
	}
	total := int64(next) * BlockSize
	meta := make([]byte, (metaEnd+BlockSize-1)/BlockSize*BlockSize)

	var h hash.Hash32
	if opt.UUID == ([16]byte{}) {
		h = crc32.New(castagnoli)
	}
	dw := newDataWriter(w, int64(len(meta)), h)
	defer dw.close()
	for i, ino := range b.inodes {
		base := int(ino.nid) * inodeSlot
		putInode(meta[base:], ino, uint32(i+1))
		copy(meta[base+ino.isize():], ino.xattrs)
		if ino.z != nil {
			end := ino.isize() + len(ino.xattrs)
			putIndex(meta[base+end:], ino.z, ino.size, ino.blkaddr, (end+7)/8*8-end)
		}
		tail := meta[base+ino.isize()+len(ino.xattrs):][:ino.inline]
		if err := b.data(dw, ino, tail); err != nil {
			return 0, [16]byte{}, 0, err
		}
	}
	if err := dw.close(); err != nil {
		return 0, [16]byte{}, 0, fmt.Errorf("erofs: writing data: %w", err)
	}
	if dw.pos() != total {
		return 0, [16]byte{}, 0, fmt.Errorf("BUG: erofs: data ends at %d, want %d", dw.pos(), total)
	}

	sb := superblock{
		rootNID:      uint16(root.nid),
		inos:         uint64(len(b.inodes)),
		buildTime:    uint64(opt.Epoch.Unix()),
		buildNsec:    uint32(opt.Epoch.Nanosecond()),
		blocks:       uint32(next),
		featureCompt: featureCompatSBChecksum | featureCompatMtime,
	}
	if opt.Compression != CompressNone {
		sb.featureIncompat = featureIncompatZeroPadding | featureIncompatComprCfgs
		sb.comprAlgs = 1 << 0 // LZ4
		sb.lz4PclusterBlocks = uint16(pblocks)
	}
	copy(sb.volumeName[:], opt.VolumeName)
	sb.put(meta[superOffset:])
	if opt.UUID == ([16]byte{}) {
		sb.uuid = deriveUUID(meta, h.Sum32(), total)
		sb.uuid[6] = sb.uuid[6]&0x0f | 0x80 // RFC 9562 version 8: custom (content-derived)
		sb.uuid[8] = sb.uuid[8]&0x3f | 0x80
	} else {
		sb.uuid = opt.UUID
	}
	sb.put(meta[superOffset:])
	checksum(meta)
	if _, err := w.WriteAt(meta, 0); err != nil {
		return 0, [16]byte{}, 0, fmt.Errorf("erofs: writing metadata: %w", err)
	}
	return total, sb.uuid, len(b.inodes), nil
}

// deriveUUID makes the filesystem UUID from the image: a SHA-256 of the
// metadata area (superblock with the UUID still zero, every inode, name,
// owner, mode, size, xattr and inline tail) and of a CRC-32C of the data
// blocks. A UUID names a filesystem, it does not vouch for it (the
// dm-verity root hash does), so the data get the hardware CRC rather than a
// second SHA-256 pass over the whole image: any change to names or
// metadata changes the UUID, a change to data alone does with probability
// 1 - 2^-32.
func deriveUUID(meta []byte, dataCRC uint32, size int64) [16]byte {
	h := sha256.New()
	h.Write(meta)
	var tail [12]byte
	binary.LittleEndian.PutUint32(tail[0:], dataCRC)
	binary.LittleEndian.PutUint64(tail[4:], uint64(size))
	h.Write(tail[:])
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x80 // RFC 9562 version 8: custom (content-derived)
	u[8] = u[8]&0x3f | 0x80
	return u
}

type builder struct {
	metaStart int // first byte after the superblock (and its records)
	epoch     time.Time
	seen      map[*fstree.Node]*inode
	inodes    []*inode // depth-first, names in byte order; inodes[0] is the root
}

// collect makes inodes for n and everything below it. Hard links (a node
// met again) only add a link count.
func (b *builder) collect(p string, n *fstree.Node, parent *inode) (*inode, error) {
	if ino := b.seen[n]; ino != nil {
		if n.Type == fstree.Dir {
			return nil, fmt.Errorf("erofs: %s: directory linked twice (also at %s)", p, ino.path)
		}
		ino.nlink++
		return ino, nil
	}
	if ft, _ := fileType(n.Type); ft == 0 {
		return nil, fmt.Errorf("erofs: %s: unsupported node type %v", p, n.Type)
	}
	ino := &inode{node: n, path: p, nlink: 1}
	b.seen[n] = ino
	b.inodes = append(b.inodes, ino)
	if n.Type != fstree.Dir {
		return ino, nil
	}
	ino.nlink = 2
	if parent == nil {
		parent = ino
	}
	ents := []dirent{{".", ino}, {"..", parent}}
	for _, name := range n.Names() {
		if len(name) > maxNameLen {
			return nil, fmt.Errorf("erofs: %s/%s: name longer than %d bytes", p, name, maxNameLen)
		}
		cp := p + "/" + name
		if p == "/" {
			cp = p + name
		}
		child, err := b.collect(cp, n.Child(name), ino)
		if err != nil {
			return nil, err
		}
		if child.node.Type == fstree.Dir {
			ino.nlink++
		}
		ents = append(ents, dirent{name, child})
	}
	slices.SortFunc(ents, func(a, b dirent) int {
		switch {
		case a.name < b.name:
			return -1
		case a.name > b.name:
			return 1
		}
		return 0
	})
	ino.dir = ents
	return ino, nil
}

// shape decides an inode's size, format and data layout.
func (b *builder) shape(ino *inode) error {
	n := ino.node
	var err error
	if ino.xattrs, err = encodeXattrs(n.Xattrs); err != nil {
		return fmt.Errorf("erofs: %s: %w", ino.path, err)
	}
	mt := n.Mtime
	if mt.IsZero() || mt.After(b.epoch) {
		mt = b.epoch
	}
	if mt.Unix() < 0 {
		mt = time.Unix(0, 0)
	}
	ino.mtime, ino.mtimeNsec = mt.Unix(), uint32(mt.Nanosecond())

	switch n.Type {
	case fstree.Regular:
		if n.Content != nil && n.Content.Size() < 0 {
			return fmt.Errorf("erofs: %s: negative size", ino.path)
		}
		ino.size = uint64(n.Size())
	case fstree.Symlink:
		if len(n.Target) == 0 || len(n.Target) > 4095 {
			return fmt.Errorf("erofs: %s: symlink target of %d bytes (want 1..4095)", ino.path, len(n.Target))
		}
		ino.size = uint64(len(n.Target))
	case fstree.Dir:
		used := 0
		for i, e := range ino.dir {
			need := direntSize + len(e.name)
			if i == 0 || used+need > BlockSize {
				ino.dirBlocks = append(ino.dirBlocks, i)
				if i > 0 {
					ino.size += BlockSize
				}
				used = 0
			}
			used += need
		}
		ino.size += uint64(used)
	}
	ino.extended = ino.node.UID > 0xffff || ino.node.GID > 0xffff || ino.nlink > 0xffff ||
		ino.size > 0xffffffff || !mt.Equal(b.epoch)

	if ino.z != nil {
		ino.layout = layoutCompressedFull
		ino.blocks = ino.z.blocks()
		ino.zmeta = indexLen(ino.isize()+len(ino.xattrs), ino.size)
		return nil
	}
	ino.layout = layoutFlatPlain
	ino.blocks = (ino.size + BlockSize - 1) / BlockSize
	if tail := int(ino.size % BlockSize); tail > 0 && ino.isize()+len(ino.xattrs)+tail <= BlockSize {
		ino.layout = layoutFlatInline
		ino.inline = tail
		ino.blocks = ino.size / BlockSize
	}
	if ino.isize()+len(ino.xattrs) > BlockSize {
		return fmt.Errorf("erofs: %s: inode with xattrs takes %d bytes, more than a block", ino.path, ino.isize()+len(ino.xattrs))
	}
	return nil
}

// place assigns nids: the root first, right after the superblock, then
// every inode in order. An inode with an inline tail must not cross a block
// boundary (the kernel reads the tail from one block); when it would, it
// starts the next block and the gap it leaves is remembered for later
// inodes that fit. It returns the end of the metadata area.
func (b *builder) place() int {
	type hole struct{ start, end int }
	var holes []hole
	pos := (b.metaStart + inodeSlot - 1) / inodeSlot * inodeSlot
	for _, ino := range b.inodes {
		l := ino.metaLen()
		need := (l + inodeSlot - 1) / inodeSlot * inodeSlot
		placed := false
		for i, h := range holes {
			if h.end-h.start >= l {
				ino.nid = uint64(h.start / inodeSlot)
				holes[i].start += need
				if holes[i].start >= holes[i].end {
					holes = slices.Delete(holes, i, i+1)
				}
				placed = true
				break
			}
		}
		if placed {
			continue
		}
		if ino.inline > 0 && pos%BlockSize+l > BlockSize {
			next := (pos/BlockSize + 1) * BlockSize
			if next-pos >= compactInodeSize {
				holes = append(holes, hole{pos, next})
				if len(holes) > 64 { // bound the search; old small holes rarely fit anything
					holes = holes[1:]
				}
			}
			pos = next
		}
		ino.nid = uint64(pos / inodeSlot)
		pos += need
	}
	return pos
}

// data writes ino's whole blocks through dw and its inline tail into tail.
func (b *builder) data(dw *dataWriter, ino *inode, tail []byte) error {
	if ino.blocks > 0 && dw.pos() != int64(ino.blkaddr)*BlockSize {
		return fmt.Errorf("BUG: erofs: %s: data at %d, want block %d", ino.path, dw.pos(), ino.blkaddr)
	}
	full := int64(ino.blocks) * BlockSize
	if ino.layout == layoutFlatInline {
		full = int64(ino.size) - int64(len(tail))
	}
	switch ino.node.Type {
	case fstree.Regular:
		if ino.z != nil {
			for i := range ino.z.parts {
				if err := writePart(dw, &ino.z.parts[i]); err != nil {
					return fmt.Errorf("erofs: %s: compressed data: %w", ino.path, err)
				}
			}
			return nil
		}
		if err := copyContent(dw, ino, full, tail); err != nil {
			return fmt.Errorf("erofs: %s: %w", ino.path, err)
		}
	case fstree.Symlink:
		return split(dw, []byte(ino.node.Target), full, tail)
	case fstree.Dir:
		return split(dw, encodeDir(ino), full, tail)
	}
	return nil
}

// writePart copies a compressed segment's pclusters from the spill.
func writePart(dw *dataWriter, p *zpart) error {
	r, err := p.stored.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := dw.readFrom(r, int64(p.nblocks)*BlockSize); err != nil {
		return err
	}
	p.stored = nil // written: let it go
	return nil
}

// split writes the first full bytes of data as blocks (zero-padded) and the
// rest into tail.
func split(dw *dataWriter, data []byte, full int64, tail []byte) error {
	if len(tail) > 0 {
		copy(tail, data[full:])
		data = data[:full]
	}
	if err := dw.write(data); err != nil {
		return err
	}
	return dw.pad()
}

func copyContent(dw *dataWriter, ino *inode, full int64, tail []byte) error {
	c := ino.node.Content
	if c == nil {
		return nil
	}
	if bs, ok := c.(fstree.Bytes); ok {
		if int64(len(bs)) != int64(ino.size) {
			return fmt.Errorf("content is %d bytes, declared %d", len(bs), ino.size)
		}
		return split(dw, bs, full, tail)
	}
	r, err := c.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	if len(tail) > 0 {
		if n, err := dw.readFrom(r, full); err != nil {
			return fmt.Errorf("read %d of %d bytes: %w", n, ino.size, err)
		}
		if n, err := io.ReadFull(r, tail); err != nil {
			return fmt.Errorf("read %d of %d bytes: %w", full+int64(n), ino.size, err)
		}
	} else if n, err := dw.readFrom(r, int64(ino.size)); err != nil {
		return fmt.Errorf("read %d of %d bytes: %w", n, ino.size, err)
	}
	if n, _ := r.Read(make([]byte, 1)); n > 0 {
		return fmt.Errorf("content longer than the declared %d bytes", ino.size)
	}
	return dw.pad()
}

// encodeDir lays out a directory's blocks: per block the dirents
// (nid, name offset, type), then the names, unterminated. The last block is
// cut at the directory's size.
func encodeDir(ino *inode) []byte {
	out := make([]byte, ino.size)
	for bi, first := range ino.dirBlocks {
		last := len(ino.dir)
		if bi+1 < len(ino.dirBlocks) {
			last = ino.dirBlocks[bi+1]
		}
		blk := out[bi*BlockSize:]
		nameOff := (last - first) * direntSize
		for i, e := range ino.dir[first:last] {
			d := blk[i*direntSize:]
			binary.LittleEndian.PutUint64(d[0:], e.ino.nid)
			binary.LittleEndian.PutUint16(d[8:], uint16(nameOff))
			d[10], _ = fileType(e.ino.node.Type)
			nameOff += copy(blk[nameOff:], e.name)
		}
	}
	return out
}
