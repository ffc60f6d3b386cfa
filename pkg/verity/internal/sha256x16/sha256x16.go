// Package sha256x16 computes SHA-256(prefix ‖ block) for many equal-sized
// blocks at once: sixteen messages side by side, one per 32-bit lane of the
// AVX-512 registers. dm-verity hashes millions of independent 4 KiB blocks,
// the ideal shape for it; on CPUs with AVX-512 it does about twice the work
// of the SHA-NI instructions per core. Elsewhere Available is false and
// callers use crypto/sha256.
package sha256x16

import (
	"encoding/binary"
	"fmt"
)

// Lanes is how many messages one call hashes.
const Lanes = 16

var iv = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

// Hasher hashes prefix ‖ block for blocks of one size. It owns scratch
// buffers: use one per goroutine.
type Hasher struct {
	prefix []byte
	bs     int
	// Message layout: blocks [0, k0) mix prefix and data and are copied
	// into head; [k0, k1) are read in place; [k1, nb) hold the data's tail
	// and the padding and are copied into tail.
	k0, k1, nb int
	head, tail []byte
	idxHead    [Lanes]int32
	idxTail    [Lanes]int32
	idxData    [Lanes]int32
	state      [8][Lanes]uint32
}

// New returns a Hasher for blocks of bs bytes, each hashed after prefix.
func New(prefix []byte, bs int) (*Hasher, error) {
	if !Available {
		return nil, fmt.Errorf("sha256x16: this CPU lacks AVX-512")
	}
	if bs < 64 || bs%64 != 0 || Lanes*bs > 1<<30 || len(prefix) > 1<<20 {
		return nil, fmt.Errorf("sha256x16: unsupported block size %d or prefix length %d", bs, len(prefix))
	}
	s := len(prefix)
	l := s + bs
	h := &Hasher{prefix: append([]byte(nil), prefix...), bs: bs,
		k0: (s + 63) / 64, k1: l / 64, nb: (l + 8 + 64) / 64}
	h.head = make([]byte, Lanes*64*h.k0)
	h.tail = make([]byte, Lanes*64*(h.nb-h.k1))
	for i := range Lanes {
		h.idxHead[i] = int32(i * 64 * h.k0)
		h.idxTail[i] = int32(i * 64 * (h.nb - h.k1))
		h.idxData[i] = int32(i * bs)
		// The parts of head and tail that do not depend on the data.
		hd := h.head[i*64*h.k0 : (i+1)*64*h.k0]
		copy(hd, prefix)
		tl := h.tail[i*64*(h.nb-h.k1) : (i+1)*64*(h.nb-h.k1)]
		tl[l-64*h.k1] = 0x80
		binary.BigEndian.PutUint64(tl[len(tl)-8:], uint64(l)*8)
	}
	return h, nil
}

// Sum hashes Lanes consecutive blocks of src (Lanes·bs bytes) and writes
// digest i at dst[i*stride:].
func (h *Hasher) Sum(dst []byte, stride int, src []byte) {
	if len(src) != Lanes*h.bs || len(dst) < (Lanes-1)*stride+32 {
		panic("sha256x16: bad buffer sizes")
	}
	s := len(h.prefix)
	hl, tlen := 64*h.k0, 64*(h.nb-h.k1)
	for i := range Lanes {
		blk := src[i*h.bs : (i+1)*h.bs]
		copy(h.head[i*hl+s:(i+1)*hl], blk)
		copy(h.tail[i*tlen:], blk[64*h.k1-s:])
	}
	for w := range 8 {
		for i := range Lanes {
			h.state[w][i] = iv[w]
		}
	}
	if h.k0 > 0 {
		block(&h.state, &h.head[0], &h.idxHead, h.k0)
	}
	if h.k1 > h.k0 {
		block(&h.state, &src[64*h.k0-s], &h.idxData, h.k1-h.k0)
	}
	block(&h.state, &h.tail[0], &h.idxTail, h.nb-h.k1)
	for i := range Lanes {
		d := dst[i*stride : i*stride+32]
		for w := range 8 {
			binary.BigEndian.PutUint32(d[4*w:], h.state[w][i])
		}
	}
}
