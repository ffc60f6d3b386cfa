// Package qcow2 writes QEMU's qcow2 disk image format, version 3 (QEMU's
// docs/interop/qcow2.txt), from a raw disk.
//
// It implements the subset a read-only, sparse copy of a raw disk needs:
// 64 KiB clusters, 16-bit refcounts (refcount order 4), one L1 table and
// the L2 tables that map allocated clusters, no header extensions. It
// writes no compressed or encrypted clusters, no backing file, no
// snapshots, no external data file and no extended L2 entries; clusters of
// zeros are left unallocated (they read as zeros). Open reads back what
// Write writes, and refuses anything using a feature outside that subset.
//
// The layout is a pure function of the raw disk, so the same disk gives
// the same bytes: the header, then the non-zero data clusters in guest
// order, then the L2 tables, the L1 table, the refcount blocks and the
// refcount table.
package qcow2

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const (
	// ClusterBits is log2 of the cluster size Write uses.
	ClusterBits = 16
	// ClusterSize is the cluster size Write uses: 64 KiB, QEMU's default.
	ClusterSize = 1 << ClusterBits
	// RefcountOrder is log2 of the refcount width in bits Write uses (16).
	RefcountOrder = 4

	magic         = 0x514649fb // "QFI\xfb"
	version       = 3
	headerLength  = 104
	l2Entries     = ClusterSize / 8                        // entries of an L2 table
	refcountsPer  = ClusterSize * 8 / (1 << RefcountOrder) // refcounts in a refcount block
	offsetMask    = 0x00fffffffffffe00                     // bits 9-55: a host offset
	flagCopied    = 1 << 63                                // refcount is exactly 1
	flagCompress  = 1 << 62                                // compressed cluster (L2)
	flagZero      = 1                                      // reads as zeros (L2, v3)
	maxVirtualLen = 1 << 50                                // far beyond any disk we build
)

// ErrUnsupported is Open's refusal of an image using a feature outside the
// subset this package implements.
var ErrUnsupported = errors.New("unsupported qcow2 feature")

// Write writes the qcow2 image of the raw disk r, size bytes long, to w
// and returns the image's length. w must read as zeros where nothing is
// written (a new, empty file); every cluster Write allocates it writes
// whole. size must be a multiple of 512.
func Write(w io.WriterAt, r io.Reader, size int64) (int64, error) {
	if size < 0 || size%512 != 0 || size > maxVirtualLen {
		return 0, fmt.Errorf("qcow2: virtual size %d is not a multiple of 512 below 1 PiB", size)
	}
	nClusters := (size + ClusterSize - 1) / ClusterSize
	l1Size := (nClusters + l2Entries - 1) / l2Entries
	// l2[i] is L1 entry i's table, nil while it maps nothing.
	l2 := make([][]uint64, l1Size)

	buf := make([]byte, ClusterSize)
	zero := make([]byte, ClusterSize)
	next := int64(1) // the next free host cluster; 0 is the header
	lr := io.LimitReader(r, size)
	for c := int64(0); c < nClusters; c++ {
		n, err := io.ReadFull(lr, buf)
		if err != nil && !(err == io.ErrUnexpectedEOF && c == nClusters-1 && int64(n) == size-c*ClusterSize) {
			return 0, fmt.Errorf("qcow2: reading the raw disk at %d: %w", c*ClusterSize, err)
		}
		clear(buf[n:])
		if bytes.Equal(buf, zero) {
			continue
		}
		if _, err := w.WriteAt(buf, next*ClusterSize); err != nil {
			return 0, fmt.Errorf("qcow2: writing cluster %d: %w", c, err)
		}
		t := l2[c/l2Entries]
		if t == nil {
			t = make([]uint64, l2Entries)
			l2[c/l2Entries] = t
		}
		t[c%l2Entries] = uint64(next*ClusterSize) | flagCopied
		next++
	}
	if n, _ := r.Read(buf[:1]); n != 0 {
		return 0, fmt.Errorf("qcow2: the raw disk is longer than %d bytes", size)
	}

	// The metadata after the data: L2 tables, L1 table, refcount blocks,
	// refcount table. The refcount structures count themselves, so their
	// size is found by iterating to a fixed point.
	nL2 := int64(0)
	for _, t := range l2 {
		if t != nil {
			nL2++
		}
	}
	l1Clusters := (l1Size*8 + ClusterSize - 1) / ClusterSize
	l2Start := next
	l1Start := l2Start + nL2
	rbStart := l1Start + l1Clusters
	var nRB, nRT int64
	for {
		total := rbStart + nRB + nRT
		rb := (total + refcountsPer - 1) / refcountsPer
		rt := (rb*8 + ClusterSize - 1) / ClusterSize
		if rb == nRB && rt == nRT {
			break
		}
		nRB, nRT = rb, rt
	}
	rtStart := rbStart + nRB
	total := rtStart + nRT

	l1 := make([]byte, l1Clusters*ClusterSize)
	at := l2Start
	for i, t := range l2 {
		if t == nil {
			continue
		}
		b := make([]byte, ClusterSize)
		for j, e := range t {
			binary.BigEndian.PutUint64(b[j*8:], e)
		}
		if _, err := w.WriteAt(b, at*ClusterSize); err != nil {
			return 0, fmt.Errorf("qcow2: writing an L2 table: %w", err)
		}
		binary.BigEndian.PutUint64(l1[i*8:], uint64(at*ClusterSize)|flagCopied)
		at++
	}
	if _, err := w.WriteAt(l1, l1Start*ClusterSize); err != nil {
		return 0, fmt.Errorf("qcow2: writing the L1 table: %w", err)
	}
	rt := make([]byte, nRT*ClusterSize)
	for i := int64(0); i < nRB; i++ {
		b := make([]byte, ClusterSize)
		for j := int64(0); j < refcountsPer && i*refcountsPer+j < total; j++ {
			binary.BigEndian.PutUint16(b[j*2:], 1)
		}
		if _, err := w.WriteAt(b, (rbStart+i)*ClusterSize); err != nil {
			return 0, fmt.Errorf("qcow2: writing a refcount block: %w", err)
		}
		binary.BigEndian.PutUint64(rt[i*8:], uint64((rbStart+i)*ClusterSize))
	}
	if _, err := w.WriteAt(rt, rtStart*ClusterSize); err != nil {
		return 0, fmt.Errorf("qcow2: writing the refcount table: %w", err)
	}

	h := make([]byte, ClusterSize)
	be := binary.BigEndian
	be.PutUint32(h[0:], magic)
	be.PutUint32(h[4:], version)
	// 8: backing file offset, 16: its size: none
	be.PutUint32(h[20:], ClusterBits)
	be.PutUint64(h[24:], uint64(size))
	// 32: encryption method: none
	be.PutUint32(h[36:], uint32(l1Size))
	be.PutUint64(h[40:], uint64(l1Start*ClusterSize))
	be.PutUint64(h[48:], uint64(rtStart*ClusterSize))
	be.PutUint32(h[56:], uint32(nRT))
	// 60: snapshots: none; 72, 80, 88: incompatible, compatible and
	// autoclear features: none
	be.PutUint32(h[96:], RefcountOrder)
	be.PutUint32(h[100:], headerLength)
	// 104: the end of the header extensions (type 0, length 0): zeros
	if _, err := w.WriteAt(h, 0); err != nil {
		return 0, fmt.Errorf("qcow2: writing the header: %w", err)
	}
	return total * ClusterSize, nil
}
