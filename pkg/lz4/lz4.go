// Package lz4 compresses data into the LZ4 block format (the sequences of
// lz4's doc/lz4_Block_format.md: no frame, no checksum) the way EROFS
// stores it: as much of the input as fits into a fixed output budget, one
// physical cluster, like liblz4's LZ4_compress_destSize. The caller learns
// how many input bytes the block holds and carries on from there.
//
// Blocks keep the format's end-of-block rules (the last five bytes are
// literals, the last match starts at least twelve bytes before the end)
// relative to where each block stops, so the Linux kernel's
// LZ4_decompress_safe and any conforming decoder read them. Matches never
// reach before the start of the input given to one call: every block
// decodes on its own.
//
// Two levels: Fast (one hash probe per position, greedy) and High (a hash
// chain searched up to a fixed depth with lazy matching, in the spirit of
// lz4hc). The output depends only on the input and the level: the same
// bytes on every run and machine.
package lz4

import (
	"encoding/binary"
	"math/bits"
)

// Level selects the match search.
type Level int

const (
	// Fast probes one candidate per position and takes the first match.
	Fast Level = iota
	// High searches a hash chain and defers a match when the next
	// position has a longer one.
	High
)

const (
	minMatch     = 4
	lastLiterals = 5  // a block ends with at least this many literals
	mfLimit      = 12 // the last match starts at least this far from the end
	maxDistance  = 65535
	hashLog      = 16
	chainSize    = 1 << 16 // positions remembered: the largest match distance
	// highDepth is the chain steps per search at High: liblz4's level 7
	// (its levels search 2^(level-1)). On the desktop root's binaries,
	// 256 steps (level 9) took twice the time for 0.5-0.8% fewer bytes
	// (16 KiB pclusters: 1.014 of mkfs.erofs -zlz4hc,12's size instead
	// of 1.010; TestCompressedSizeVsMkfsErofs).
	highDepth = 64
)

// Compressor holds the match finder's tables; reuse one per goroutine.
// The zero value is not usable: call New.
type Compressor struct {
	depth int
	lazy  bool
	head  []int32  // hash of 4 bytes -> base+position of the latest occurrence
	chain []uint16 // (base+position) mod 2^16 -> distance to the previous occurrence
	base  int32    // base of the current call; older entries are below it
	next  int      // next position to enter into the tables
	src   []byte
}

// New returns a compressor for level.
func New(level Level) *Compressor {
	c := &Compressor{depth: 1, head: make([]int32, 1<<hashLog), chain: make([]uint16, chainSize), base: 1}
	if level == High {
		c.depth, c.lazy = highDepth, true
	}
	return c
}

func hash4(v uint32) uint32 { return v * 2654435761 >> (32 - hashLog) }

// insert enters positions up to (not including) end.
func (c *Compressor) insert(end int) {
	for p := c.next; p < end; p++ {
		h := hash4(binary.LittleEndian.Uint32(c.src[p:]))
		abs := c.base + int32(p)
		prev := c.head[h]
		d := uint16(0)
		if prev >= c.base && abs-prev <= maxDistance {
			d = uint16(abs - prev)
		}
		c.chain[uint32(abs)%chainSize] = d
		c.head[h] = abs
	}
	if end > c.next {
		c.next = end
	}
}

// find returns the longest match for position ip that ends at or before
// limit, searching earlier positions only.
func (c *Compressor) find(ip, limit int) (ml, off int) {
	c.insert(ip)
	src := c.src
	cand := c.head[hash4(binary.LittleEndian.Uint32(src[ip:]))]
	for step := 0; step < c.depth && cand >= c.base; step++ {
		p := int(cand - c.base)
		if ip-p > maxDistance {
			break
		}
		if ml == 0 || src[p+ml] == src[ip+ml] {
			if n := common(src, p, ip, limit); n > ml {
				ml, off = n, ip-p
				if ip+ml >= limit {
					break
				}
			}
		}
		d := c.chain[uint32(cand)%chainSize]
		if d == 0 {
			break
		}
		cand -= int32(d)
	}
	if ml < minMatch {
		return 0, 0
	}
	return ml, off
}

// common is the length of the common prefix of src[a:] and src[b:], with
// b > a, not reaching past limit.
func common(src []byte, a, b, limit int) int {
	n := 0
	for b+n+8 <= limit {
		x := binary.LittleEndian.Uint64(src[a+n:]) ^ binary.LittleEndian.Uint64(src[b+n:])
		if x != 0 {
			return n + bits.TrailingZeros64(x)/8
		}
		n += 8
	}
	for b+n < limit && src[a+n] == src[b+n] {
		n++
	}
	return n
}

// litCost is the bytes a run of n literals takes besides the token.
func litCost(n int) int {
	if n < 15 {
		return n
	}
	return n + 1 + (n-15)/255
}

func matchCost(ml int) int {
	if ml-minMatch < 15 {
		return 2
	}
	return 3 + (ml-minMatch-15)/255
}

// maxMatch is the longest match whose offset and length bytes fit in
// room bytes (0 when none does).
func maxMatch(room int) int {
	switch {
	case room < 2:
		return 0
	case room == 2:
		return minMatch + 14
	}
	return minMatch + 15 + 255*(room-3) + 254
}

// maxLiterals is the longest literal run that fits, token included, in
// room bytes.
func maxLiterals(room int) int {
	if room <= 0 {
		return 0
	}
	n := room - 1
	if n < 15 {
		return n
	}
	// n literals plus 1+(n-15)/255 length bytes must fit in room-1.
	for n > 0 && litCost(n) > room-1 {
		n--
	}
	return n
}

// CompressPrefix compresses the longest prefix of src it can fit into
// dst, whole, and returns the compressed length and the number of input
// bytes it holds. Decoding dst[:n] gives src[:consumed] exactly. dst must
// hold at least 16 bytes.
func (c *Compressor) CompressPrefix(dst, src []byte) (n, consumed int) {
	if len(src) > 1<<30 {
		src = src[:1<<30]
	}
	if int64(c.base)+int64(len(src))+1 >= 1<<31-1 {
		clear(c.head)
		c.base = 1
	}
	c.src, c.next = src, 0
	defer func() { c.base += int32(len(src)) + 1; c.src = nil }()
	budget := len(dst)
	op, anchor, ip := 0, 0, 0
	mflimit := len(src) - mfLimit         // matches start at or before this
	matchlimit := len(src) - lastLiterals // and end at or before this
	for ip <= mflimit {
		// Stop scanning once the pending literals alone fill the budget.
		if op+1+litCost(ip-anchor) >= budget {
			break
		}
		ml, off := c.find(ip, matchlimit)
		if ml == 0 {
			ip++
			continue
		}
		if c.lazy {
			for ip+1 <= mflimit {
				ml2, off2 := c.find(ip+1, matchlimit)
				if ml2 <= ml {
					break
				}
				ip, ml, off = ip+1, ml2, off2
			}
		}
		lits := ip - anchor
		cost := 1 + litCost(lits) + matchCost(ml)
		tail := max(lastLiterals, mfLimit-ml) // literals that must follow
		if op+cost+1+litCost(tail) > budget {
			// A long match may still fit shortened: its length bytes
			// are what overflow (a run of zeros, say).
			ml = min(ml, maxMatch(budget-op-1-litCost(lits)-1-litCost(lastLiterals)))
			if ml < mfLimit-lastLiterals {
				break
			}
		}
		op = putSeq(dst, op, src[anchor:ip], off, ml)
		ip += ml
		anchor = ip
	}
	lits := min(len(src)-anchor, maxLiterals(budget-op))
	op = putLiterals(dst, op, src[anchor:anchor+lits])
	return op, anchor + lits
}

func putLen(dst []byte, op, n int) int {
	for n >= 255 {
		dst[op] = 255
		op++
		n -= 255
	}
	dst[op] = byte(n)
	return op + 1
}

func putSeq(dst []byte, op int, lits []byte, off, ml int) int {
	tok := op
	op++
	t := byte(0)
	if len(lits) >= 15 {
		t = 15 << 4
		op = putLen(dst, op, len(lits)-15)
	} else {
		t = byte(len(lits)) << 4
	}
	op += copy(dst[op:], lits)
	binary.LittleEndian.PutUint16(dst[op:], uint16(off))
	op += 2
	if m := ml - minMatch; m >= 15 {
		t |= 15
		op = putLen(dst, op, m-15)
	} else {
		t |= byte(m)
	}
	dst[tok] = t
	return op
}

func putLiterals(dst []byte, op int, lits []byte) int {
	if len(lits) >= 15 {
		dst[op] = 15 << 4
		op = putLen(dst, op+1, len(lits)-15)
	} else {
		dst[op] = byte(len(lits)) << 4
		op++
	}
	return op + copy(dst[op:], lits)
}
