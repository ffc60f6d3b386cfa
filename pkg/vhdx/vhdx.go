// Package vhdx writes Microsoft's VHDX disk image format (the MS-VHDX
// specification, version 1) from a raw disk: the format Hyper-V boots.
//
// It implements the subset a read-only, sparse copy of a raw disk needs: a
// dynamic (not fixed, not differencing) disk with 512-byte logical and
// 4096-byte physical sectors, the file identifier, both headers, both
// region tables, the metadata region (file parameters, virtual disk size,
// virtual disk ID, sector sizes) and the block allocation table, each
// with its CRC-32C. The log is present but empty (the headers' LogGuid is
// zero), so nothing is to be replayed. Blocks of zeros are not allocated:
// their BAT entries say PAYLOAD_BLOCK_ZERO, which reads as zeros.
// It writes no parent locator and no sector bitmaps (those are for
// differencing disks), no user metadata.
//
// The bytes are a function of the raw disk and the block size: the GUIDs
// the format wants unique (file write, data write, virtual disk ID) are
// derived from the disk's content, as the disk's own GUIDs are: from the
// SHA-256 of its non-zero blocks, each after its index, and its size (the
// zeros between them are implied, and not hashed, which is most of a
// disk).
package vhdx

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"unicode/utf16"

	"github.com/hardenvm/hardenvm/pkg/gpt"
)

const (
	// DefaultBlockSize is the payload block size Write uses when
	// Options.BlockSize is zero (see Options).
	DefaultBlockSize = 1 << 20

	mib              = 1 << 20
	kib              = 1 << 10
	logicalSector    = 512
	physicalSector   = 4096
	headerSize       = 4 * kib
	regionTableSize  = 64 * kib
	metadataTableLen = 64 * kib

	// The file's fixed layout: the header section (file identifier,
	// two headers, two region tables) in the first MiB, then the log,
	// the metadata region, the BAT and the payload blocks, each 1 MiB
	// aligned as the specification requires.
	header1Off   = 64 * kib
	header2Off   = 128 * kib
	region1Off   = 192 * kib
	region2Off   = 256 * kib
	logOff       = 1 * mib
	logLen       = 1 * mib
	metadataOff  = 2 * mib
	metadataLen  = 1 * mib
	batOff       = 3 * mib
	maxBlockSize = 256 * mib

	// BAT entry states (MS-VHDX 2.5.1.1).
	payloadBlockZero         = 2
	payloadBlockFullyPresent = 6

	creator = "hardenvm"

	// sparseChunk is the granule of the zero check inside an allocated
	// block: a chunk of zeros this long is not written.
	sparseChunk = 64 * kib
)

// The GUIDs of the regions and metadata items (MS-VHDX 2.2.3.1, 2.6.2).
var (
	guidBAT                = gpt.MustParseGUID("2dc27766-f623-4200-9d64-115e9bfd4a08")
	guidMetadata           = gpt.MustParseGUID("8b7ca206-4790-4b9a-b8fe-575f050f886e")
	guidFileParameters     = gpt.MustParseGUID("caa16737-fa36-4d43-b3b6-33f0aa44e76b")
	guidVirtualDiskSize    = gpt.MustParseGUID("2fa54224-cd1b-4876-b211-5dbed83bf4b8")
	guidVirtualDiskID      = gpt.MustParseGUID("beca12ab-b2e6-4523-93ef-c309e000c746")
	guidLogicalSectorSize  = gpt.MustParseGUID("8141bf1d-a96f-4709-ba47-f233a8faab5f")
	guidPhysicalSectorSize = gpt.MustParseGUID("cda348c7-445d-4471-9cc9-e9885251c556")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options tune Write.
type Options struct {
	// BlockSize is the payload block size, a power of two from 1 MiB to
	// 256 MiB; DefaultBlockSize (1 MiB) when zero. It is the unit of
	// allocation: a block holding one non-zero byte takes its whole size
	// in the file (its runs of zeros are holes where the file system
	// allows). 1 MiB gives the smallest files for our disks (the minimal
	// image: 34.6 MB at 1 MiB, 37.7 at 2, 46.1 at 8, 104.9 at 32, the
	// Hyper-V default) and is what Microsoft advises for Linux guests;
	// the BAT costs 8 bytes per MiB of disk.
	BlockSize int64
}

// Write writes the dynamic VHDX image of the raw disk r, size bytes long,
// to w and returns the image's length. w must read as zeros where nothing
// is written (a new, empty file). size must be a multiple of 512.
func Write(w io.WriterAt, r io.Reader, size int64, o Options) (int64, error) {
	bs := o.BlockSize
	if bs == 0 {
		bs = DefaultBlockSize
	}
	if bs < mib || bs > maxBlockSize || bs&(bs-1) != 0 {
		return 0, fmt.Errorf("vhdx: block size %d is not a power of two from 1 MiB to 256 MiB", bs)
	}
	if size <= 0 || size%logicalSector != 0 || size > 64<<40 {
		return 0, fmt.Errorf("vhdx: virtual size %d is not a positive multiple of 512 up to 64 TiB", size)
	}
	chunkRatio := (int64(1) << 23) * logicalSector / bs
	blocks := (size + bs - 1) / bs
	batEntries := blocks + (blocks-1)/chunkRatio
	batLen := (batEntries*8 + mib - 1) / mib * mib
	bat := make([]byte, batLen)

	buf := make([]byte, bs)
	zero := make([]byte, bs)
	h := sha256.New()
	next := int64(batOff + batLen) // the next payload block's offset
	tail := false                  // the last block written ends unwritten
	lr := io.LimitReader(r, size)
	for b := int64(0); b < blocks; b++ {
		n, err := io.ReadFull(lr, buf)
		if err != nil && !(err == io.ErrUnexpectedEOF && b == blocks-1 && int64(n) == size-b*bs) {
			return 0, fmt.Errorf("vhdx: reading the raw disk at %d: %w", b*bs, err)
		}
		clear(buf[n:])
		state := uint64(payloadBlockZero)
		if !bytes.Equal(buf, zero) {
			h.Write(binary.LittleEndian.AppendUint64(nil, uint64(b)))
			h.Write(buf)
			// The block's runs of zeros are left unwritten, so that
			// the file is sparse inside allocated blocks too.
			for i := int64(0); i < bs; i += sparseChunk {
				c := buf[i : i+sparseChunk]
				tail = bytes.Equal(c, zero[:sparseChunk])
				if tail {
					continue
				}
				if _, err := w.WriteAt(c, next+i); err != nil {
					return 0, fmt.Errorf("vhdx: writing block %d: %w", b, err)
				}
			}
			state = payloadBlockFullyPresent | uint64(next/mib)<<20
			next += bs
		}
		// A sector bitmap entry follows every chunkRatio payload
		// entries; a disk that is not differencing leaves it zero.
		binary.LittleEndian.PutUint64(bat[(b+b/chunkRatio)*8:], state)
	}
	if n, _ := r.Read(buf[:1]); n != 0 {
		return 0, fmt.Errorf("vhdx: the raw disk is longer than %d bytes", size)
	}
	if tail {
		// The file ends with the last block's zeros: give it its length.
		if _, err := w.WriteAt([]byte{0}, next-1); err != nil {
			return 0, fmt.Errorf("vhdx: writing the last block: %w", err)
		}
	}
	h.Write(binary.LittleEndian.AppendUint64(nil, uint64(size)))
	sum := h.Sum(nil)

	if _, err := w.WriteAt(bat, batOff); err != nil {
		return 0, fmt.Errorf("vhdx: writing the BAT: %w", err)
	}
	if _, err := w.WriteAt(metadata(size, bs, gpt.NewGUID([]byte("vhdx-virtual-disk-id"), sum)), metadataOff); err != nil {
		return 0, fmt.Errorf("vhdx: writing the metadata: %w", err)
	}
	regions := regionTable(batLen)
	hdr := func(seq uint64) []byte {
		return header(seq, gpt.NewGUID([]byte("vhdx-file-write"), sum), gpt.NewGUID([]byte("vhdx-data-write"), sum))
	}
	for _, part := range []struct {
		off int64
		b   []byte
	}{
		{0, fileIdentifier()},
		{header1Off, hdr(1)},
		{header2Off, hdr(2)},
		{region1Off, regions},
		{region2Off, regions},
	} {
		if _, err := w.WriteAt(part.b, part.off); err != nil {
			return 0, fmt.Errorf("vhdx: writing the header section: %w", err)
		}
	}
	return next, nil
}

// fileIdentifier is the file type identifier (MS-VHDX 2.2.1): the
// signature and the creator, in UTF-16LE.
func fileIdentifier() []byte {
	b := make([]byte, 64*kib)
	copy(b, "vhdxfile")
	for i, u := range utf16.Encode([]rune(creator)) {
		binary.LittleEndian.PutUint16(b[8+2*i:], u)
	}
	return b
}

// header is a header (MS-VHDX 2.2.2) with an empty log.
func header(seq uint64, fileWrite, dataWrite gpt.GUID) []byte {
	b := make([]byte, headerSize)
	le := binary.LittleEndian
	copy(b, "head")
	le.PutUint64(b[8:], seq)
	gpt.AppendGUID(b[16:16], fileWrite)
	gpt.AppendGUID(b[32:32], dataWrite)
	// 48: LogGuid, zero: the log holds nothing to replay
	le.PutUint16(b[64:], 0) // LogVersion
	le.PutUint16(b[66:], 1) // Version
	le.PutUint32(b[68:], logLen)
	le.PutUint64(b[72:], logOff)
	le.PutUint32(b[4:], crc32.Checksum(b, castagnoli))
	return b
}

// regionTable is a region table (MS-VHDX 2.2.3): the BAT and the
// metadata region, both required.
func regionTable(batLen int64) []byte {
	b := make([]byte, regionTableSize)
	le := binary.LittleEndian
	copy(b, "regi")
	le.PutUint32(b[8:], 2)
	for i, e := range []struct {
		id       gpt.GUID
		off, len int64
	}{{guidBAT, batOff, batLen}, {guidMetadata, metadataOff, metadataLen}} {
		p := b[16+32*i:]
		gpt.AppendGUID(p[:0], e.id)
		le.PutUint64(p[16:], uint64(e.off))
		le.PutUint32(p[24:], uint32(e.len))
		le.PutUint32(p[28:], 1) // Required
	}
	le.PutUint32(b[4:], crc32.Checksum(b, castagnoli))
	return b
}

// metadata is the metadata region (MS-VHDX 2.6): its table and the five
// items of a dynamic disk, packed after the table.
func metadata(size, blockSize int64, diskID gpt.GUID) []byte {
	const (
		isVirtualDisk = 1 << 1
		isRequired    = 1 << 2
	)
	le := binary.LittleEndian
	u32 := func(v uint32) []byte { return le.AppendUint32(nil, v) }
	items := []struct {
		id    gpt.GUID
		flags uint32
		data  []byte
	}{
		// BlockSize; flags 0: blocks may be unallocated, no parent
		{guidFileParameters, isRequired, append(u32(uint32(blockSize)), u32(0)...)},
		{guidVirtualDiskSize, isVirtualDisk | isRequired, le.AppendUint64(nil, uint64(size))},
		{guidVirtualDiskID, isVirtualDisk | isRequired, gpt.AppendGUID(nil, diskID)},
		{guidLogicalSectorSize, isVirtualDisk | isRequired, u32(logicalSector)},
		{guidPhysicalSectorSize, isVirtualDisk | isRequired, u32(physicalSector)},
	}
	b := make([]byte, metadataLen)
	copy(b, "metadata")
	le.PutUint16(b[10:], uint16(len(items)))
	off := metadataTableLen
	for i, it := range items {
		e := b[32+32*i:]
		gpt.AppendGUID(e[:0], it.id)
		le.PutUint32(e[16:], uint32(off))
		le.PutUint32(e[20:], uint32(len(it.data)))
		le.PutUint32(e[24:], it.flags)
		copy(b[off:], it.data)
		off += len(it.data)
	}
	return b
}
