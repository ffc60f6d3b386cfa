package qcow2

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/hardenvm/hardenvm/internal/blockmap"
)

// maxL1 caps the L1 table Open reads into memory (32 MiB).
const maxL1 = 1 << 22

// Reader reads the guest's view of a qcow2 image: what Write writes, and
// any version 2 or 3 image without a backing file, encryption,
// compressed clusters or incompatible features.
type Reader struct {
	r           io.ReaderAt
	size        int64 // the virtual size
	clusterBits uint32
	l1          []uint64
}

// Open reads the header and L1 table of the qcow2 image r.
func Open(r io.ReaderAt) (*Reader, error) {
	h := make([]byte, 104)
	if _, err := r.ReadAt(h[:72], 0); err != nil {
		return nil, fmt.Errorf("qcow2: reading the header: %w", err)
	}
	be := binary.BigEndian
	if be.Uint32(h) != magic {
		return nil, fmt.Errorf("qcow2: not a qcow2 image (magic %#x)", be.Uint32(h))
	}
	ver := be.Uint32(h[4:])
	if ver != 2 && ver != 3 {
		return nil, fmt.Errorf("%w: version %d", ErrUnsupported, ver)
	}
	if ver == 3 {
		if _, err := r.ReadAt(h[72:104], 72); err != nil {
			return nil, fmt.Errorf("qcow2: reading the header: %w", err)
		}
		if f := be.Uint64(h[72:]); f != 0 {
			return nil, fmt.Errorf("%w: incompatible features %#x", ErrUnsupported, f)
		}
	}
	x := &Reader{r: r, size: int64(be.Uint64(h[24:])), clusterBits: be.Uint32(h[20:])}
	switch {
	case be.Uint64(h[8:]) != 0:
		return nil, fmt.Errorf("%w: a backing file", ErrUnsupported)
	case be.Uint32(h[32:]) != 0:
		return nil, fmt.Errorf("%w: encryption", ErrUnsupported)
	case x.clusterBits < 9 || x.clusterBits > 21:
		return nil, fmt.Errorf("qcow2: cluster bits %d out of range", x.clusterBits)
	case x.size < 0 || x.size > maxVirtualLen:
		return nil, fmt.Errorf("qcow2: virtual size %d out of range", x.size)
	}
	perL2 := int64(1) << (x.clusterBits - 3)
	clusters := (x.size + 1<<x.clusterBits - 1) >> x.clusterBits
	need := (clusters + perL2 - 1) / perL2
	n := int64(be.Uint32(h[36:]))
	if need > maxL1 {
		return nil, fmt.Errorf("%w: an L1 table of %d entries", ErrUnsupported, need)
	}
	if n < need || n > need+1<<16 {
		return nil, fmt.Errorf("qcow2: L1 table of %d entries for %d clusters", n, clusters)
	}
	l1 := make([]byte, need*8)
	if _, err := r.ReadAt(l1, int64(be.Uint64(h[40:]))); err != nil {
		return nil, fmt.Errorf("qcow2: reading the L1 table: %w", err)
	}
	for i := range need {
		x.l1 = append(x.l1, be.Uint64(l1[i*8:]))
	}
	return x, nil
}

// Size is the virtual disk's size.
func (x *Reader) Size() int64 { return x.size }

// ReadAt reads the virtual disk at off: unallocated clusters read as
// zeros.
func (x *Reader) ReadAt(p []byte, off int64) (int, error) {
	n, err := blockmap.ReadAt(x.r, p, off, x.size, 1<<x.clusterBits, x.lookup)
	if err != nil && err != io.EOF && !errors.Is(err, ErrUnsupported) {
		err = fmt.Errorf("qcow2: %w", err)
	}
	return n, err
}

// lookup is the host offset of guest cluster c; ok is false when the
// cluster reads as zeros.
func (x *Reader) lookup(c int64) (host int64, ok bool, err error) {
	perL2 := int64(1) << (x.clusterBits - 3)
	l2 := int64(x.l1[c/perL2] & offsetMask)
	if l2 == 0 {
		return 0, false, nil
	}
	var b [8]byte
	if _, err := x.r.ReadAt(b[:], l2+c%perL2*8); err != nil {
		return 0, false, fmt.Errorf("reading an L2 entry of cluster %d: %w", c, err)
	}
	e := binary.BigEndian.Uint64(b[:])
	switch {
	case e&flagCompress != 0:
		return 0, false, fmt.Errorf("%w: compressed cluster %d", ErrUnsupported, c)
	case e&flagZero != 0:
		return 0, false, nil
	}
	host = int64(e & offsetMask)
	return host, host != 0, nil
}
