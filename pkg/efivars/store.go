package efivars

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/hardenvm/hardenvm/pkg/gpt"
	"hash/crc32"
)

// Layout constants of edk2's firmware volume, variable store and FTW
// working block headers.
const (
	fvSignature       = 0x4856465f // "_FVH"
	fvMinHeaderLength = 0x38 + 16  // fixed part + one block map entry + terminator
	storeHeaderSize   = 28         // VARIABLE_STORE_HEADER
	storeFormatted    = 0x5a
	storeHealthy      = 0xfe
	varStartID        = 0x55aa
	varHeaderSize     = 60 // AUTHENTICATED_VARIABLE_HEADER
	ftwHeaderSize     = 32 // EFI_FAULT_TOLERANT_WORKING_BLOCK_HEADER
	ftwWriteHeader    = 40 // EFI_FAULT_TOLERANT_WRITE_HEADER
	ftwWriteRecord    = 40 // EFI_FAULT_TOLERANT_WRITE_RECORD without private data
	erased            = 0xff
	fvbErasePolarity  = 0x800 // EFI_FVB2_ERASE_POLARITY
)

// Record states (bits are cleared as a variable goes through its life, on
// flash whose erased state is 1).
const (
	StateAdded               = 0x3f // complete and current
	StateHeaderValidOnly     = 0x7f // header written, data not (yet)
	inDeletedTransitionMask  = 0xfe
	deletedMask              = 0xfd
	StateInDeletedTransition = StateAdded & inDeletedTransitionMask // being replaced: current until the new copy is added
	StateDeleted             = StateAdded & deletedMask & inDeletedTransitionMask
)

// Errors callers may test for.
var (
	ErrNotVariableStore = errors.New("not an edk2 variable store")
	ErrStoreFull        = errors.New("variables do not fit in the variable store")
	ErrPendingWrite     = errors.New("the fault-tolerant-write working block records an unfinished write")
)

// Record is one variable header found in the store, current or not.
type Record struct {
	Offset   int   // of the header, in the image
	State    uint8 // StateAdded, StateDeleted, ...
	Variable Variable
}

// Live reports whether edk2 would use this record (added, or being
// replaced); Image.Variables resolves duplicates.
func (r *Record) Live() bool { return r.State == StateAdded || r.State == StateInDeletedTransition }

// FTW describes the fault-tolerant-write working block.
type FTW struct {
	Offset    int  // of the working block header, in the image
	QueueSize int  // bytes of write queue after the header
	Writes    int  // write headers in the queue
	Pending   bool // the last write is not complete
}

// Image is a parsed edk2 flash image holding a variable store.
type Image struct {
	raw []byte

	FVLength     uint64
	FVHeaderSize int
	BlockSize    uint32
	Blocks       uint32
	StoreOffset  int  // of VARIABLE_STORE_HEADER
	StoreSize    int  // VARIABLE_STORE_HEADER.Size, header included
	UsedEnd      int  // offset just past the last record
	Dirty        bool // bytes after the last record are not erased: the firmware will reclaim the store
	Records      []Record
	FTW          *FTW // nil when the image has no working block
}

// Raw returns the image's bytes (not a copy).
func (im *Image) Raw() []byte { return im.raw }

func (im *Image) storeEnd() int    { return im.StoreOffset + im.StoreSize }
func (im *Image) firstRecord() int { return align4(im.StoreOffset + storeHeaderSize) }

func align4(n int) int { return (n + 3) &^ 3 }

// Parse reads a flash image (a whole OVMF_VARS file). It checks every
// size against the image, so it is safe on untrusted input.
func Parse(b []byte) (*Image, error) {
	le := binary.LittleEndian
	if len(b) < fvMinHeaderLength {
		return nil, fmt.Errorf("%w: %d bytes is too small for a firmware volume header", ErrNotVariableStore, len(b))
	}
	if le.Uint32(b[0x28:]) != fvSignature {
		return nil, fmt.Errorf("%w: no firmware volume signature _FVH at offset 0x28", ErrNotVariableStore)
	}
	fsGUID := gpt.DecodeGUID(b[0x10:])
	if fsGUID != SystemNVDataFV {
		return nil, fmt.Errorf("%w: firmware volume type %s, want EFI_SYSTEM_NV_DATA_FV_GUID %s", ErrNotVariableStore, fsGUID, SystemNVDataFV)
	}
	im := &Image{raw: b, FVLength: le.Uint64(b[0x20:])}
	attrs := le.Uint32(b[0x2c:])
	im.FVHeaderSize = int(le.Uint16(b[0x30:]))
	if im.FVLength > uint64(len(b)) || im.FVLength < fvMinHeaderLength {
		return nil, fmt.Errorf("firmware volume length %d, image is %d bytes", im.FVLength, len(b))
	}
	if im.FVHeaderSize < fvMinHeaderLength || im.FVHeaderSize%2 != 0 || uint64(im.FVHeaderSize)+storeHeaderSize > im.FVLength {
		return nil, fmt.Errorf("firmware volume header length %d is invalid", im.FVHeaderSize)
	}
	if attrs&fvbErasePolarity == 0 {
		return nil, fmt.Errorf("firmware volume attributes %#x: erase polarity 0 is not supported", attrs)
	}
	var sum uint16
	for i := 0; i < im.FVHeaderSize; i += 2 {
		sum += le.Uint16(b[i:])
	}
	if sum != 0 {
		return nil, fmt.Errorf("firmware volume header checksum does not add up (sum %#04x)", sum)
	}
	// Block map: (NumBlocks, Length) pairs up to a zero pair. edk2's
	// variable stores use a single run of equal blocks. OVMF's maps
	// exactly the volume; ArmVirtQemu's flash driver (AAVMF) maps the
	// whole 64 MiB flash device, of which the volume is the first blocks.
	im.Blocks, im.BlockSize = le.Uint32(b[0x38:]), le.Uint32(b[0x3c:])
	if im.BlockSize == 0 || uint64(im.Blocks)*uint64(im.BlockSize) < im.FVLength || im.FVLength%uint64(im.BlockSize) != 0 {
		return nil, fmt.Errorf("firmware volume block map %d×%d does not cover its length %d in whole blocks", im.Blocks, im.BlockSize, im.FVLength)
	}

	so := im.FVHeaderSize
	sig := gpt.DecodeGUID(b[so:])
	switch sig {
	case AuthenticatedVariable:
	case PlainVariable:
		return nil, fmt.Errorf("%w: the store has no authenticated variable headers (EFI_VARIABLE_GUID): not a Secure Boot build of OVMF", ErrNotVariableStore)
	default:
		return nil, fmt.Errorf("%w: variable store signature %s", ErrNotVariableStore, sig)
	}
	im.StoreOffset = so
	im.StoreSize = int(le.Uint32(b[so+16:]))
	if format, state := b[so+20], b[so+21]; format != storeFormatted || state != storeHealthy {
		return nil, fmt.Errorf("variable store format %#x state %#x, want formatted (0x5a) and healthy (0xfe)", format, state)
	}
	if im.StoreSize < storeHeaderSize || uint64(so)+uint64(im.StoreSize) > im.FVLength {
		return nil, fmt.Errorf("variable store size %d does not fit in the firmware volume", im.StoreSize)
	}
	if err := im.parseRecords(); err != nil {
		return nil, err
	}
	if err := im.parseFTW(); err != nil {
		return nil, err
	}
	return im, nil
}

func (im *Image) parseRecords() error {
	b, le, end := im.raw, binary.LittleEndian, im.storeEnd()
	off := im.firstRecord()
	for off+varHeaderSize <= end && le.Uint16(b[off:]) == varStartID {
		h := b[off : off+varHeaderSize]
		nameSize, dataSize := int(le.Uint32(h[36:])), int(le.Uint32(h[40:]))
		next := uint64(off) + varHeaderSize + uint64(nameSize) + uint64(dataSize)
		if next > uint64(end) {
			return fmt.Errorf("variable at offset %#x: name %d + data %d bytes run past the store end %#x", off, nameSize, dataSize, end)
		}
		r := Record{Offset: off, State: h[2]}
		v := &r.Variable
		v.Attributes = Attributes(le.Uint32(h[4:]))
		v.MonotonicCount = le.Uint64(h[8:])
		v.Time = parseTime(h[16:])
		v.PubKeyIndex = le.Uint32(h[32:])
		v.GUID = gpt.DecodeGUID(h[44:])
		p := off + varHeaderSize
		name, err := decodeName(b[p : p+nameSize])
		if err != nil {
			return fmt.Errorf("variable at offset %#x: %w", off, err)
		}
		v.Name = name
		v.Data = append([]byte{}, b[p+nameSize:p+nameSize+dataSize]...)
		im.Records = append(im.Records, r)
		off = align4(int(next))
	}
	im.UsedEnd = min(off, end)
	for _, c := range b[im.UsedEnd:end] {
		if c != erased {
			im.Dirty = true
			break
		}
	}
	return nil
}

// parseFTW finds the working block on a block boundary after the store,
// checks its header and walks its write queue.
func (im *Image) parseFTW() error {
	b, le := im.raw, binary.LittleEndian
	bs := int(im.BlockSize)
	start := (im.storeEnd() + bs - 1) / bs * bs
	for off := start; off+ftwHeaderSize <= int(im.FVLength); off += bs {
		sig := gpt.DecodeGUID(b[off:])
		if sig != FTWWorkingBlock {
			continue
		}
		h := append([]byte{}, b[off:off+ftwHeaderSize]...)
		crc := le.Uint32(h[16:])
		state := h[20]
		// The CRC covers the header as first written: CRC field and
		// state byte erased.
		le.PutUint32(h[16:], 0xffffffff)
		h[20] = erased
		if got := crc32.ChecksumIEEE(h); got != crc {
			return fmt.Errorf("FTW working block at %#x: CRC %#08x, header sums to %#08x", off, crc, got)
		}
		// WorkingBlockValid (bit 0) is set by clearing it; WorkingBlockInvalid (bit 1) must stay erased.
		if state&1 != 0 || state&2 == 0 {
			return fmt.Errorf("FTW working block at %#x: state %#02x is not valid", off, state)
		}
		qs := le.Uint64(b[off+24:])
		if qs > uint64(int(im.FVLength)-off-ftwHeaderSize) {
			return fmt.Errorf("FTW working block at %#x: write queue size %d runs past the volume", off, qs)
		}
		f := &FTW{Offset: off, QueueSize: int(qs)}
		f.walk(b[off+ftwHeaderSize : off+ftwHeaderSize+int(qs)])
		im.FTW = f
		return nil
	}
	return nil
}

// walk reads the write queue: EFI_FAULT_TOLERANT_WRITE_HEADERs, each
// followed by NumberOfWrites records with PrivateDataSize bytes each.
// Status bits are set by clearing them (erase polarity 1).
func (f *FTW) walk(q []byte) {
	le := binary.LittleEndian
	for off := 0; off+ftwWriteHeader <= len(q); {
		st := q[off]
		if st == erased {
			return
		}
		f.Writes++
		writesAllocated, complete := st&2 == 0, st&4 == 0
		// An incomplete write is one the firmware may replay (or abort)
		// at its next start, touching the blocks we rewrite.
		f.Pending = !complete
		if !writesAllocated {
			return
		}
		n, priv := le.Uint64(q[off+24:]), le.Uint64(q[off+32:])
		size := uint64(ftwWriteHeader) + n*(uint64(ftwWriteRecord)+priv)
		if n > uint64(len(q)) || priv > uint64(len(q)) || size > uint64(len(q)-off) {
			return
		}
		off += int(size)
	}
}
