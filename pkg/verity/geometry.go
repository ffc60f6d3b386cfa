package verity

import (
	"errors"
	"fmt"
	"math/bits"
)

// Block sizes veritysetup accepts: a power of two from 512 bytes to 512 KiB.
// (The kernel further limits them to the page size when it maps the device.)
const (
	MinBlockSize = 512
	MaxBlockSize = 512 << 10
)

// maxLevels is the deepest tree veritysetup and the kernel build
// (VERITY_MAX_LEVELS / DM_VERITY_MAX_LEVELS).
const maxLevels = 63

// Geometry is the shape of a hash tree: how many blocks each level has and
// where it sits in the hash area. It is a pure function of the data block
// count, the block sizes and the digest size, shared by Format and Verify.
//
// Level 0 holds the digests of the data blocks; level i+1 holds the digests
// of the blocks of level i; the last level has exactly one block, whose
// digest is the root hash. On disk the levels are stored top level first and
// level 0 last, each level's blocks in order. With a single data block there
// are no levels at all: the root hash is the digest of that block.
type Geometry struct {
	DataBlockSize  int
	HashBlockSize  int
	DigestSize     int    // bytes of one digest
	DigestSlot     int    // DigestSize rounded up to a power of two
	HashesPerBlock int    // digests in one hash block
	DataBlocks     uint64 // blocks of data covered by the tree
	Levels         []Level
}

// Level is one level of the tree. Start is its first block, counted in hash
// blocks from the start of the tree (the block after the superblock).
type Level struct {
	Start  uint64
	Blocks uint64
}

// NewGeometry computes the tree shape for dataBlocks blocks of data.
func NewGeometry(dataBlocks uint64, dataBlockSize, hashBlockSize, digestSize int) (Geometry, error) {
	if err := checkBlockSize("data", dataBlockSize); err != nil {
		return Geometry{}, err
	}
	if err := checkBlockSize("hash", hashBlockSize); err != nil {
		return Geometry{}, err
	}
	if dataBlocks == 0 {
		return Geometry{}, errors.New("verity: no data blocks: the data is empty")
	}
	if digestSize <= 0 || digestSize > hashBlockSize/2 {
		return Geometry{}, fmt.Errorf("verity: digest size %d does not fit twice in a %d-byte hash block", digestSize, hashBlockSize)
	}
	g := Geometry{
		DataBlockSize: dataBlockSize,
		HashBlockSize: hashBlockSize,
		DigestSize:    digestSize,
		DigestSlot:    1 << bits.Len(uint(digestSize-1)),
		DataBlocks:    dataBlocks,
	}
	g.HashesPerBlock = hashBlockSize / g.DigestSlot
	shift := bits.TrailingZeros(uint(g.HashesPerBlock))

	// The kernel's rule: as many levels as it takes for one block to cover
	// every data block.
	levels := 0
	for shift*levels < 64 && (dataBlocks-1)>>(shift*levels) != 0 {
		levels++
	}
	if levels > maxLevels {
		return Geometry{}, fmt.Errorf("verity: %d data blocks need %d tree levels, more than %d", dataBlocks, levels, maxLevels)
	}
	g.Levels = make([]Level, levels)
	n := dataBlocks
	for i := range g.Levels {
		n = (n-1)>>shift + 1 // ceil(n / HashesPerBlock)
		g.Levels[i].Blocks = n
	}
	var pos uint64
	for i := levels - 1; i >= 0; i-- {
		g.Levels[i].Start = pos
		if pos+g.Levels[i].Blocks < pos {
			return Geometry{}, errors.New("verity: hash tree size overflows")
		}
		pos += g.Levels[i].Blocks
	}
	if pos > (1<<63-1)/uint64(hashBlockSize)-1 || dataBlocks > (1<<63-1)/uint64(dataBlockSize) {
		return Geometry{}, errors.New("verity: device too large")
	}
	return g, nil
}

func checkBlockSize(what string, n int) error {
	if n < MinBlockSize || n > MaxBlockSize || n&(n-1) != 0 {
		return fmt.Errorf("verity: %s block size %d: want a power of two from %d to %d", what, n, MinBlockSize, MaxBlockSize)
	}
	return nil
}

// HashBlocks is the number of blocks in the tree (without the superblock).
func (g Geometry) HashBlocks() uint64 {
	var n uint64
	for _, l := range g.Levels {
		n += l.Blocks
	}
	return n
}

// DataSize is the number of data bytes the tree covers.
func (g Geometry) DataSize() int64 { return int64(g.DataBlocks) * int64(g.DataBlockSize) }

// children is how many blocks the blocks of level i hash: the data blocks
// for level 0, the blocks of level i-1 above that.
func (g Geometry) children(i int) uint64 {
	if i == 0 {
		return g.DataBlocks
	}
	return g.Levels[i-1].Blocks
}
