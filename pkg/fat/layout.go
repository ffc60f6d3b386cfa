package fat

import (
	"errors"
	"fmt"
)

const (
	sectorSize   = 512
	reserved     = 32 // sectors before the first FAT: boot, FSInfo, backup boot at 6
	numFATs      = 2
	minClusters  = 65525      // fewer and it is FAT16 by definition
	maxClusters  = 0x0FFFFFF5 // cluster numbers must stay below the reserved values
	defaultSize  = 64 << 20
	mib          = 1 << 20
	firstCluster = 2
	maxDirBytes  = 65536 * 32 // a directory holds at most 65536 entries
)

// ErrTooSmall means the requested size cannot hold the files, or is below
// FAT32's minimum cluster count.
var ErrTooSmall = errors.New("fat: volume too small")

// geometry is the volume layout for a size.
type geometry struct {
	sectors    uint32 // total
	spc        uint32 // sectors per cluster
	fatSectors uint32 // per FAT
	clusters   uint32 // data clusters
}

func (g geometry) clusterSize() int64 { return int64(g.spc) * sectorSize }
func (g geometry) dataStart() int64 {
	return int64(reserved+numFATs*g.fatSectors) * sectorSize
}
func (g geometry) clusterOffset(c uint32) int64 {
	return g.dataStart() + int64(c-firstCluster)*g.clusterSize()
}

// newGeometry picks the cluster size Microsoft's table gives for FAT32
// (512 bytes up to 260 MiB, then 4, 8, 16 and 32 KiB) and the FAT size.
func newGeometry(size int64) (geometry, error) {
	if size%sectorSize != 0 || size <= 0 {
		return geometry{}, fmt.Errorf("fat: size %d is not a positive multiple of %d", size, sectorSize)
	}
	if size/sectorSize > 0xFFFFFFFF {
		return geometry{}, fmt.Errorf("fat: size %d is larger than 2 TiB", size)
	}
	g := geometry{sectors: uint32(size / sectorSize)}
	switch {
	case size <= 260*mib:
		g.spc = 1
	case size <= 8<<30:
		g.spc = 8
	case size <= 16<<30:
		g.spc = 16
	case size <= 32<<30:
		g.spc = 32
	default:
		g.spc = 64
	}
	g.fatSectors = 1
	for {
		if uint64(reserved)+numFATs*uint64(g.fatSectors) >= uint64(g.sectors) {
			return geometry{}, fmt.Errorf("%w: %d bytes", ErrTooSmall, size)
		}
		g.clusters = (g.sectors - reserved - numFATs*g.fatSectors) / g.spc
		need := uint32((uint64(g.clusters+2)*4 + sectorSize - 1) / sectorSize)
		if need <= g.fatSectors {
			break
		}
		g.fatSectors = need
	}
	if g.clusters < minClusters {
		return geometry{}, fmt.Errorf("%w: %d bytes give %d clusters; FAT32 needs at least %d (use at least 33 MiB)",
			ErrTooSmall, size, g.clusters, minClusters)
	}
	if g.clusters > maxClusters-firstCluster {
		g.clusters = maxClusters - firstCluster
	}
	return g, nil
}

// extent is a run of clusters holding one directory or file.
type extent struct {
	n     *node
	first uint32
	count uint32
}

// allocate gives every directory and non-empty file its contiguous
// clusters, in a depth-first walk of the sorted tree, and returns the
// runs in allocation (and so disk) order.
func allocate(root *node, label bool, clusterSize int64) []extent {
	var out []extent
	next := uint32(firstCluster)
	take := func(n *node, bytes int64) {
		c := uint32((bytes + clusterSize - 1) / clusterSize)
		if n.dir && c == 0 {
			c = 1
		}
		if c == 0 {
			return
		}
		n.cluster, n.nclust = next, c
		out = append(out, extent{n, next, c})
		next += c
	}
	var walk func(d *node, isRoot bool)
	walk = func(d *node, isRoot bool) {
		take(d, int64(dirEntries(d, isRoot, label))*32)
		for _, c := range d.children {
			if c.dir {
				if !isRoot {
					c.parentCluster = d.cluster
				}
				walk(c, false)
			} else {
				take(c, c.file.Size)
			}
		}
	}
	walk(root, true)
	return out
}

// dirEntries counts a directory's entries: "." and ".." (not in the
// root), the volume label (root only), and its children's entries.
func dirEntries(d *node, isRoot, label bool) int {
	n := 2
	if isRoot {
		n = 0
		if label {
			n = 1
		}
	}
	for _, c := range d.children {
		n += c.entries()
	}
	return n
}

// neededClusters is how many clusters the tree takes at a cluster size.
func neededClusters(root *node, label bool, clusterSize int64) uint32 {
	var n uint32
	for _, e := range allocate(root, label, clusterSize) {
		n += e.count
	}
	return n
}

// MinSize is the size Write uses when Options.Size is zero: 64 MiB, or
// more (whole MiB) if the files need it.
func MinSize(files []File, label string) (int64, error) {
	root, err := buildTree(files)
	if err != nil {
		return 0, err
	}
	return minSize(root, label != "")
}

func minSize(root *node, label bool) (int64, error) {
	size := int64(defaultSize)
	for range 32 {
		g, err := newGeometry(size)
		if err != nil {
			return 0, err
		}
		need := neededClusters(root, label, g.clusterSize())
		if need <= g.clusters {
			return size, nil
		}
		more := int64(need-g.clusters)*g.clusterSize() + int64(need-g.clusters)*4*numFATs
		size = (size + more + more/16 + mib) / mib * mib
	}
	return 0, errors.New("fat: BUG: volume size does not converge")
}
