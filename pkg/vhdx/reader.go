package vhdx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/hardenvm/hardenvm/internal/blockmap"
	"github.com/hardenvm/hardenvm/pkg/gpt"
)

// ErrUnsupported is Open's refusal of an image outside the subset this
// package implements: a log to replay, a parent, partially present blocks,
// an unknown required region or metadata item.
var ErrUnsupported = errors.New("unsupported VHDX feature")

// Reader reads the guest's view of a dynamic or fixed VHDX image whose
// log is empty and that has no parent: what Write writes.
type Reader struct {
	r          io.ReaderAt
	size       int64 // the virtual size
	blockSize  int64
	chunkRatio int64
	bat        int64 // the BAT's offset
}

// Open reads the headers, region table and metadata of the VHDX image r.
func Open(r io.ReaderAt) (*Reader, error) {
	sig := make([]byte, 8)
	if _, err := r.ReadAt(sig, 0); err != nil || string(sig) != "vhdxfile" {
		return nil, fmt.Errorf("vhdx: not a VHDX image (%q, %v)", sig, err)
	}
	// The current header: the valid one with the higher sequence number.
	var cur []byte
	for _, off := range []int64{header1Off, header2Off} {
		h, err := readChecked(r, off, headerSize, "head")
		if err != nil {
			continue
		}
		if cur == nil || binary.LittleEndian.Uint64(h[8:]) > binary.LittleEndian.Uint64(cur[8:]) {
			cur = h
		}
	}
	if cur == nil {
		return nil, errors.New("vhdx: neither header is valid")
	}
	if !bytes.Equal(cur[48:64], make([]byte, 16)) {
		return nil, fmt.Errorf("%w: a log to replay", ErrUnsupported)
	}
	if v := binary.LittleEndian.Uint16(cur[66:]); v != 1 {
		return nil, fmt.Errorf("%w: version %d", ErrUnsupported, v)
	}
	rt, err := readChecked(r, region1Off, regionTableSize, "regi")
	if err != nil {
		if rt, err = readChecked(r, region2Off, regionTableSize, "regi"); err != nil {
			return nil, errors.New("vhdx: neither region table is valid")
		}
	}
	le := binary.LittleEndian
	n := le.Uint32(rt[8:])
	if n > 2047 {
		return nil, fmt.Errorf("vhdx: %d region table entries", n)
	}
	var batOff, metaOff, batLen int64 = -1, -1, 0
	for i := range int(n) {
		e := rt[16+32*i:]
		switch id := gpt.DecodeGUID(e); id {
		case guidBAT:
			batOff, batLen = int64(le.Uint64(e[16:])), int64(le.Uint32(e[24:]))
		case guidMetadata:
			metaOff = int64(le.Uint64(e[16:]))
		default:
			if le.Uint32(e[28:])&1 != 0 {
				return nil, fmt.Errorf("%w: required region %s", ErrUnsupported, id)
			}
		}
	}
	if batOff < 0 || metaOff < 0 {
		return nil, errors.New("vhdx: the region table lacks the BAT or the metadata region")
	}
	x := &Reader{r: r, bat: batOff}
	if err := x.readMetadata(metaOff); err != nil {
		return nil, err
	}
	blocks := (x.size + x.blockSize - 1) / x.blockSize
	if need := (blocks + (blocks-1)/x.chunkRatio) * 8; batLen < need {
		return nil, fmt.Errorf("vhdx: a BAT of %d bytes for %d blocks", batLen, blocks)
	}
	return x, nil
}

// readChecked reads n bytes at off that must start with signature and
// carry their CRC-32C at offset 4.
func readChecked(r io.ReaderAt, off int64, n int, signature string) ([]byte, error) {
	b := make([]byte, n)
	if _, err := r.ReadAt(b, off); err != nil {
		return nil, err
	}
	want := binary.LittleEndian.Uint32(b[4:])
	c := bytes.Clone(b)
	clear(c[4:8])
	if string(b[:4]) != signature || crc32.Checksum(c, castagnoli) != want {
		return nil, fmt.Errorf("vhdx: bad %s at %d", signature, off)
	}
	return b, nil
}

// readMetadata reads the block size, the virtual size and the logical
// sector size from the metadata region at off.
func (x *Reader) readMetadata(off int64) error {
	t := make([]byte, metadataTableLen)
	if _, err := x.r.ReadAt(t, off); err != nil || string(t[:8]) != "metadata" {
		return fmt.Errorf("vhdx: no metadata table (%v)", err)
	}
	le := binary.LittleEndian
	n := int(le.Uint16(t[10:]))
	if n > 2047 {
		return fmt.Errorf("vhdx: %d metadata entries", n)
	}
	var sector int64
	item := func(e []byte, n int) ([]byte, error) {
		if int(le.Uint32(e[20:])) < n {
			return nil, fmt.Errorf("vhdx: metadata item %s is %d bytes", gpt.DecodeGUID(e), le.Uint32(e[20:]))
		}
		b := make([]byte, n)
		_, err := x.r.ReadAt(b, off+int64(le.Uint32(e[16:])))
		return b, err
	}
	for i := range n {
		e := t[32+32*i : 64+32*i]
		var err error
		var b []byte
		switch id := gpt.DecodeGUID(e); id {
		case guidFileParameters:
			if b, err = item(e, 8); err == nil {
				x.blockSize = int64(le.Uint32(b))
				if le.Uint32(b[4:])&2 != 0 {
					return fmt.Errorf("%w: a parent", ErrUnsupported)
				}
			}
		case guidVirtualDiskSize:
			if b, err = item(e, 8); err == nil {
				x.size = int64(le.Uint64(b))
			}
		case guidLogicalSectorSize:
			if b, err = item(e, 4); err == nil {
				sector = int64(le.Uint32(b))
			}
		case guidVirtualDiskID, guidPhysicalSectorSize:
		default:
			if le.Uint32(e[24:])&4 != 0 {
				return fmt.Errorf("%w: required metadata item %s", ErrUnsupported, id)
			}
		}
		if err != nil {
			return fmt.Errorf("vhdx: reading metadata: %w", err)
		}
	}
	switch {
	case x.blockSize < mib || x.blockSize > maxBlockSize || x.blockSize&(x.blockSize-1) != 0:
		return fmt.Errorf("vhdx: block size %d", x.blockSize)
	case sector != 512 && sector != 4096:
		return fmt.Errorf("vhdx: logical sector size %d", sector)
	case x.size <= 0 || x.size > 64<<40 || x.size%sector != 0:
		return fmt.Errorf("vhdx: virtual size %d", x.size)
	}
	x.chunkRatio = (int64(1) << 23) * sector / x.blockSize
	return nil
}

// Size is the virtual disk's size.
func (x *Reader) Size() int64 { return x.size }

// ReadAt reads the virtual disk at off: blocks not present read as zeros.
func (x *Reader) ReadAt(p []byte, off int64) (int, error) {
	n, err := blockmap.ReadAt(x.r, p, off, x.size, x.blockSize, x.lookup)
	if err != nil && err != io.EOF && !errors.Is(err, ErrUnsupported) {
		err = fmt.Errorf("vhdx: %w", err)
	}
	return n, err
}

// lookup is where payload block b starts in the file, from its BAT
// entry; ok is false for a block not present (or undefined, zero,
// unmapped), which reads as zeros.
func (x *Reader) lookup(b int64) (host int64, ok bool, err error) {
	var e [8]byte
	if _, err := x.r.ReadAt(e[:], x.bat+(b+b/x.chunkRatio)*8); err != nil {
		return 0, false, fmt.Errorf("reading the BAT entry of block %d: %w", b, err)
	}
	v := binary.LittleEndian.Uint64(e[:])
	switch v & 7 {
	case 0, 1, 2, 3: // not present, undefined, zero, unmapped
		return 0, false, nil
	case payloadBlockFullyPresent:
		return int64(v>>20) * mib, true, nil
	}
	return 0, false, fmt.Errorf("%w: block %d in state %d", ErrUnsupported, b, v&7)
}
