package erofs

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"

	"github.com/hardenvm/hardenvm/pkg/fstree"
)

// On-disk constants (linux include/erofs_fs.h).
const (
	blockBits   = 12
	BlockSize   = 1 << blockBits // the only block size we write; images are padded to it
	superOffset = 1024
	superSize   = 128
	magic       = 0xE0F5E1E2

	featureCompatSBChecksum = 0x1
	featureCompatMtime      = 0x2

	inodeSlot        = 32 // nids count 32-byte slots from the metadata start
	compactInodeSize = 32
	extInodeSize     = 64

	layoutFlatPlain  = 0
	layoutFlatInline = 2

	direntSize = 12
	maxNameLen = 255

	xattrHeaderSize = 12
)

// Directory entry file types (EROFS_FT_*).
const (
	ftRegular  = 1
	ftDir      = 2
	ftChrdev   = 3
	ftBlkdev   = 4
	ftFifo     = 5
	ftSymlink  = 7
	sIFREG     = 0o100000
	sIFDIR     = 0o040000
	sIFCHR     = 0o020000
	sIFBLK     = 0o060000
	sIFIFO     = 0o010000
	sIFLNK     = 0o120000
	xattrUser  = 1
	xattrACLA  = 2
	xattrACLD  = 3
	xattrTrust = 4
	xattrSec   = 6
)

func fileType(t fstree.Type) (ft uint8, mode uint16) {
	switch t {
	case fstree.Regular:
		return ftRegular, sIFREG
	case fstree.Dir:
		return ftDir, sIFDIR
	case fstree.Symlink:
		return ftSymlink, sIFLNK
	case fstree.CharDevice:
		return ftChrdev, sIFCHR
	case fstree.BlockDevice:
		return ftBlkdev, sIFBLK
	case fstree.FIFO:
		return ftFifo, sIFIFO
	}
	return 0, 0
}

// superblock is struct erofs_super_block, the fields we set.
type superblock struct {
	rootNID      uint16
	inos         uint64
	buildTime    uint64
	buildNsec    uint32
	blocks       uint32
	uuid         [16]byte
	volumeName   [16]byte
	featureCompt uint32
	// Compressed images only.
	featureIncompat   uint32
	comprAlgs         uint16 // available_compr_algs
	lz4PclusterBlocks uint16 // the LZ4 record's max_pclusterblks
}

func (s *superblock) put(b []byte) {
	le := binary.LittleEndian
	le.PutUint32(b[0:], magic)
	le.PutUint32(b[4:], 0) // checksum, filled by checksum()
	le.PutUint32(b[8:], s.featureCompt)
	b[12] = blockBits
	b[13] = 0 // sb_extslots
	le.PutUint16(b[14:], s.rootNID)
	le.PutUint64(b[16:], s.inos)
	le.PutUint64(b[24:], s.buildTime)
	le.PutUint32(b[32:], s.buildNsec)
	le.PutUint32(b[36:], s.blocks)
	le.PutUint32(b[40:], 0) // meta_blkaddr: metadata starts at block 0
	le.PutUint32(b[44:], 0) // xattr_blkaddr: no shared xattrs
	copy(b[48:64], s.uuid[:])
	copy(b[64:80], s.volumeName[:])
	le.PutUint32(b[80:], s.featureIncompat)
	le.PutUint16(b[84:], s.comprAlgs)
	// devices, dirblkbits (0: dir block == block), long xattr prefixes,
	// packed inode: all zero.
	if s.comprAlgs != 0 {
		// The LZ4 record right after the superblock: its length, then
		// struct z_erofs_lz4_cfgs (max_distance 0: the format's 64 KiB).
		r := b[superSize:]
		le.PutUint16(r[0:], lz4CfgsLen-2)
		le.PutUint16(r[2:], 0)
		le.PutUint16(r[4:], s.lz4PclusterBlocks)
		clear(r[6:lz4CfgsLen])
	}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum fills the superblock checksum: the kernel's crc32c(~0, ...)
// (no final inversion) over the rest of block 0 from the superblock on,
// with the checksum field zero.
func checksum(block0 []byte) {
	sb := block0[superOffset:BlockSize]
	binary.LittleEndian.PutUint32(sb[4:], 0)
	binary.LittleEndian.PutUint32(sb[4:], ^crc32.Checksum(sb, castagnoli))
}

// xattrPrefixes maps name prefixes to EROFS's built-in prefix indexes. Only
// these can be stored without the long-prefix feature, which we don't write.
var xattrPrefixes = []struct {
	prefix string
	index  uint8
	exact  bool
}{
	{"system.posix_acl_access", xattrACLA, true},
	{"system.posix_acl_default", xattrACLD, true},
	{"user.", xattrUser, false},
	{"trusted.", xattrTrust, false},
	{"security.", xattrSec, false},
}

type xattr struct {
	index uint8
	name  string // without the prefix
	value []byte
}

// encodeXattrs returns the inline xattr body (erofs_xattr_ibody_header and
// entries, each padded to 4 bytes), or nil when there are none. Entries are
// sorted by (index, name) so equal trees give equal bytes.
func encodeXattrs(m map[string][]byte) ([]byte, error) {
	if len(m) == 0 {
		return nil, nil
	}
	var xs []xattr
	for full, v := range m {
		x, ok := xattr{}, false
		for _, p := range xattrPrefixes {
			if p.exact && full == p.prefix || !p.exact && strings.HasPrefix(full, p.prefix) && len(full) > len(p.prefix) {
				x, ok = xattr{p.index, full[len(p.prefix):], v}, true
				break
			}
		}
		if !ok {
			return nil, fmt.Errorf("xattr %q: only user., trusted., security. and POSIX ACL attributes are supported", full)
		}
		if len(full) > maxNameLen || len(v) > 0xffff {
			return nil, fmt.Errorf("xattr %q: name longer than 255 or value longer than 65535 bytes", full)
		}
		xs = append(xs, x)
	}
	slices.SortFunc(xs, func(a, b xattr) int {
		if a.index != b.index {
			return int(a.index) - int(b.index)
		}
		return strings.Compare(a.name, b.name)
	})
	b := make([]byte, xattrHeaderSize) // h_name_filter, h_shared_count = 0, reserved
	for _, x := range xs {
		e := []byte{uint8(len(x.name)), x.index, 0, 0}
		binary.LittleEndian.PutUint16(e[2:], uint16(len(x.value)))
		e = append(e, x.name...)
		e = append(e, x.value...)
		for len(e)%4 != 0 {
			e = append(e, 0)
		}
		b = append(b, e...)
	}
	if (len(b)-xattrHeaderSize)/4+1 > 0xffff {
		return nil, fmt.Errorf("xattrs take %d bytes, more than an inode can hold", len(b))
	}
	return b, nil
}

// xattrICount is i_xattr_icount for an xattr body of n bytes.
func xattrICount(n int) uint16 {
	if n == 0 {
		return 0
	}
	return uint16((n-xattrHeaderSize)/4 + 1)
}

// putInode encodes ino's on-disk inode into b (32 or 64 bytes).
func putInode(b []byte, ino *inode, seq uint32) {
	le := binary.LittleEndian
	_, typ := fileType(ino.node.Type)
	mode := typ | uint16(ino.node.Mode&fstree.ModePerm)
	var iu uint32
	switch ino.node.Type {
	case fstree.CharDevice, fstree.BlockDevice:
		iu = encodeDev(ino.node.Major, ino.node.Minor)
	case fstree.FIFO:
	default:
		iu = ino.blkaddr
		if ino.layout == layoutCompressedFull {
			iu = uint32(ino.blocks) // i_u.compressed_blocks
		}
	}
	format := uint16(ino.layout) << 1
	if ino.extended {
		format |= 1
		le.PutUint16(b[0:], format)
		le.PutUint16(b[2:], xattrICount(len(ino.xattrs)))
		le.PutUint16(b[4:], mode)
		le.PutUint16(b[6:], 0)
		le.PutUint64(b[8:], ino.size)
		le.PutUint32(b[16:], iu)
		le.PutUint32(b[20:], seq)
		le.PutUint32(b[24:], ino.node.UID)
		le.PutUint32(b[28:], ino.node.GID)
		le.PutUint64(b[32:], uint64(ino.mtime))
		le.PutUint32(b[40:], ino.mtimeNsec)
		le.PutUint32(b[44:], ino.nlink)
		clear(b[48:64])
		return
	}
	le.PutUint16(b[0:], format)
	le.PutUint16(b[2:], xattrICount(len(ino.xattrs)))
	le.PutUint16(b[4:], mode)
	le.PutUint16(b[6:], uint16(ino.nlink))
	le.PutUint32(b[8:], uint32(ino.size))
	le.PutUint32(b[12:], 0) // mtime = the superblock's build time
	le.PutUint32(b[16:], iu)
	le.PutUint32(b[20:], seq)
	le.PutUint16(b[24:], uint16(ino.node.UID))
	le.PutUint16(b[26:], uint16(ino.node.GID))
	le.PutUint32(b[28:], 0)
}

// encodeDev is the kernel's new_encode_dev.
func encodeDev(major, minor uint32) uint32 {
	return minor&0xff | major<<8 | (minor&^0xff)<<12
}
