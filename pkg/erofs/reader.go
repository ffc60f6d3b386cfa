package erofs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Reader reads files from an EROFS image of the subset this package
// writes (any block size the kernel allows, compact and extended inodes,
// flat plain and flat inline data, inline xattrs skipped). It is what the
// host needs to look into an image it built — the admin settings in a
// config partition — without mounting it; it refuses compressed and
// chunked files.
type Reader struct {
	r         io.ReaderAt
	size      int64
	blockBits uint8
	meta      int64 // byte offset of the metadata area
	rootNID   uint64
}

// ErrNotExist is returned for a path the image does not have.
var ErrNotExist = errors.New("no such file in the EROFS image")

// NewReader checks the superblock of the image r (size bytes).
func NewReader(r io.ReaderAt, size int64) (*Reader, error) {
	sb := make([]byte, superSize)
	if _, err := r.ReadAt(sb, superOffset); err != nil {
		return nil, fmt.Errorf("erofs: reading the superblock: %w", err)
	}
	le := binary.LittleEndian
	if le.Uint32(sb) != magic {
		return nil, errors.New("erofs: no EROFS superblock (bad magic)")
	}
	bits := sb[12]
	if bits < 9 || bits > 16 {
		return nil, fmt.Errorf("erofs: block size 2^%d is not supported", bits)
	}
	return &Reader{r: r, size: size, blockBits: bits,
		meta: int64(le.Uint32(sb[40:])) << bits, rootNID: uint64(le.Uint16(sb[14:]))}, nil
}

// rinode is the part of an on-disk inode the reader uses.
type rinode struct {
	mode    uint16
	size    uint64
	layout  uint16
	blkaddr uint32
	tail    int64 // where inline data starts (after the inode and its xattrs)
}

func (rd *Reader) inode(nid uint64) (rinode, error) {
	off := rd.meta + int64(nid)*inodeSlot
	b := make([]byte, extInodeSize)
	if off < 0 || off+compactInodeSize > rd.size {
		return rinode{}, fmt.Errorf("erofs: inode %d lies outside the image", nid)
	}
	n, err := rd.r.ReadAt(b, off)
	if n < compactInodeSize {
		return rinode{}, fmt.Errorf("erofs: reading inode %d: %w", nid, err)
	}
	le := binary.LittleEndian
	format := le.Uint16(b)
	ino := rinode{mode: le.Uint16(b[4:]), layout: format >> 1 & 7, blkaddr: le.Uint32(b[16:])}
	isize := int64(compactInodeSize)
	if format&1 != 0 {
		if n < extInodeSize {
			return rinode{}, fmt.Errorf("erofs: inode %d is cut short", nid)
		}
		isize, ino.size = extInodeSize, le.Uint64(b[8:])
	} else {
		ino.size = uint64(le.Uint32(b[8:]))
	}
	var xsize int64
	if ic := le.Uint16(b[2:]); ic > 0 {
		xsize = xattrHeaderSize + int64(ic-1)*4
	}
	ino.tail = off + isize + xsize
	if ino.layout != layoutFlatPlain && ino.layout != layoutFlatInline {
		return rinode{}, fmt.Errorf("erofs: inode %d has data layout %d: only flat (uncompressed, unchunked) files are supported", nid, ino.layout)
	}
	return ino, nil
}

// data reads an inode's contents, at most max bytes.
func (rd *Reader) data(ino rinode, max int64) ([]byte, error) {
	if ino.size > uint64(max) || int64(ino.size) > rd.size {
		return nil, fmt.Errorf("erofs: %d bytes, more than the %d allowed", ino.size, max)
	}
	out := make([]byte, ino.size)
	bs := int64(1) << rd.blockBits
	plain := int64(ino.size)
	if ino.layout == layoutFlatInline && ino.size > 0 {
		plain = (int64(ino.size) - 1) / bs * bs // every block but the last
	}
	if plain > 0 {
		if _, err := rd.r.ReadAt(out[:plain], int64(ino.blkaddr)<<rd.blockBits); err != nil {
			return nil, fmt.Errorf("erofs: reading data at block %d: %w", ino.blkaddr, err)
		}
	}
	if tail := out[plain:]; len(tail) > 0 {
		if ino.tail%bs+int64(len(tail)) > bs {
			return nil, errors.New("erofs: inline data crosses a block boundary")
		}
		if _, err := rd.r.ReadAt(tail, ino.tail); err != nil {
			return nil, fmt.Errorf("erofs: reading inline data: %w", err)
		}
	}
	return out, nil
}

// maxDir bounds the directories the reader walks.
const maxDir = 16 << 20

// lookup finds name in the directory inode dir.
func (rd *Reader) lookup(dir rinode, name string) (uint64, error) {
	b, err := rd.data(dir, maxDir)
	if err != nil {
		return 0, err
	}
	bs := 1 << rd.blockBits
	le := binary.LittleEndian
	for start := 0; start < len(b); start += bs {
		blk := b[start:min(start+bs, len(b))]
		if len(blk) < direntSize {
			return 0, errors.New("erofs: directory block too short")
		}
		n := int(le.Uint16(blk[8:])) / direntSize
		if n == 0 || n*direntSize > len(blk) {
			return 0, errors.New("erofs: bad directory block")
		}
		for i := range n {
			e := blk[i*direntSize:]
			from, to := int(le.Uint16(e[8:])), len(blk)
			if i+1 < n {
				to = int(le.Uint16(blk[(i+1)*direntSize+8:]))
			}
			if from < n*direntSize || from > to || to > len(blk) {
				return 0, errors.New("erofs: bad directory entry name offset")
			}
			if string(bytes.TrimRight(blk[from:to], "\x00")) == name {
				return le.Uint64(e), nil
			}
		}
	}
	return 0, ErrNotExist
}

// ReadFile returns the contents of the regular file at name (a path
// relative to the image's root, "/" separated, no symlinks followed), at
// most max bytes.
func (rd *Reader) ReadFile(name string, max int64) ([]byte, error) {
	nid := rd.rootNID
	for _, c := range strings.Split(strings.Trim(name, "/"), "/") {
		if c == "" || c == "." || c == ".." {
			return nil, fmt.Errorf("erofs: %q: want a plain relative path", name)
		}
		dir, err := rd.inode(nid)
		if err != nil {
			return nil, err
		}
		if dir.mode&0o170000 != sIFDIR {
			return nil, fmt.Errorf("erofs: %s: %w", name, ErrNotExist)
		}
		if nid, err = rd.lookup(dir, c); err != nil {
			return nil, fmt.Errorf("erofs: %s: %w", name, err)
		}
	}
	ino, err := rd.inode(nid)
	if err != nil {
		return nil, err
	}
	if ino.mode&0o170000 != sIFREG {
		return nil, fmt.Errorf("erofs: %s is not a regular file", name)
	}
	return rd.data(ino, max)
}
