package fat

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
)

// Options are the volume's parameters.
type Options struct {
	// Size of the volume in bytes, a multiple of 512; 0 means MinSize.
	Size int64
	// Time is every entry's creation, modification and access time.
	Time time.Time
	// Label is the volume label (up to 11 short-name characters); empty
	// means none ("NO NAME" in the boot sector).
	Label string
	// HiddenSectors is the LBA where the partition starts; firmware does
	// not need it, but it belongs in the boot sector of a partition.
	HiddenSectors uint32
}

// Info describes a written volume.
type Info struct {
	Size        int64
	VolumeID    uint32
	ClusterSize int
	Clusters    uint32 // data clusters in the volume
	Used        uint32 // of which in use
}

// Write writes a FAT32 volume holding files to w at offset 0. It writes
// the boot sectors, both FATs, every directory and every file's clusters
// (the last one zero-padded); free clusters are left alone, so w must
// read as zeros there (a new or truncated file does).
//
// The volume ID is the first 4 bytes (little-endian) of SHA-256 over the
// volume size, the label and every byte written to the data region, so
// it changes with any name, time or content; the boot sector, which holds
// it, is written last.
func Write(w io.WriterAt, files []File, opt Options) (Info, error) {
	root, err := buildTree(files)
	if err != nil {
		return Info{}, err
	}
	label, err := volumeLabel(opt.Label)
	if err != nil {
		return Info{}, err
	}
	hasLabel := opt.Label != ""
	if opt.Size == 0 {
		if opt.Size, err = minSize(root, hasLabel); err != nil {
			return Info{}, err
		}
	}
	g, err := newGeometry(opt.Size)
	if err != nil {
		return Info{}, err
	}
	extents := allocate(root, hasLabel, g.clusterSize())
	var used uint32
	for _, e := range extents {
		used += e.count
		if e.n.dir && int64(e.count)*g.clusterSize() > maxDirBytes {
			return Info{}, fmt.Errorf("fat: directory /%s has more than %d entries", e.n.path, maxDirBytes/32)
		}
	}
	if used > g.clusters {
		return Info{}, fmt.Errorf("%w: the files need %d clusters of %d bytes, %d bytes hold %d",
			ErrTooSmall, used, g.clusterSize(), opt.Size, g.clusters)
	}
	ts := stamp(opt.Time)

	// The FATs: each extent is one chain.
	fat := make([]byte, int64(g.fatSectors)*sectorSize)
	le := binary.LittleEndian
	le.PutUint32(fat[0:], 0x0FFFFFF8) // media byte F8
	le.PutUint32(fat[4:], 0x0FFFFFFF) // end of chain; clean, no I/O errors
	for _, e := range extents {
		for c := e.first; c < e.first+e.count; c++ {
			next := c + 1
			if c == e.first+e.count-1 {
				next = 0x0FFFFFFF
			}
			le.PutUint32(fat[4*c:], next)
		}
	}
	for i := range numFATs {
		off := int64(reserved+uint32(i)*g.fatSectors) * sectorSize
		if _, err := w.WriteAt(fat, off); err != nil {
			return Info{}, fmt.Errorf("fat: writing FAT %d: %w", i+1, err)
		}
	}

	// The data region, in cluster order, hashed for the volume ID.
	h := sha256.New()
	fmt.Fprintf(h, "hardenvm-fat32 size=%d label=%q\n", opt.Size, opt.Label)
	buf := make([]byte, 1<<20)
	for _, e := range extents {
		off := g.clusterOffset(e.first)
		length := int64(e.count) * g.clusterSize()
		dst := io.NewOffsetWriter(w, off)
		var n int64
		if e.n.dir {
			b := encodeDir(e.n, e.n == root, label, hasLabel, ts)
			h.Write(b)
			if _, err := dst.Write(b); err != nil {
				return Info{}, fmt.Errorf("fat: writing directory /%s: %w", e.n.path, err)
			}
			n = int64(len(b))
		} else {
			f := e.n.file
			n, err = io.CopyBuffer(io.MultiWriter(dst, h), io.LimitReader(f.Data, f.Size), buf)
			if err != nil {
				return Info{}, fmt.Errorf("fat: writing %s: %w", f.Path, err)
			}
			if n != f.Size {
				return Info{}, fmt.Errorf("fat: %s: data ended after %d of %d bytes", f.Path, n, f.Size)
			}
			if k, _ := f.Data.Read(buf[:1]); k > 0 {
				return Info{}, fmt.Errorf("fat: %s: data is longer than its size %d", f.Path, f.Size)
			}
		}
		if pad := length - n; pad > 0 {
			z := make([]byte, pad)
			h.Write(z)
			if _, err := dst.Write(z); err != nil {
				return Info{}, fmt.Errorf("fat: writing /%s: %w", e.n.path, err)
			}
		}
	}
	sum := h.Sum(nil)
	info := Info{Size: opt.Size, VolumeID: le.Uint32(sum), ClusterSize: int(g.clusterSize()),
		Clusters: g.clusters, Used: used}

	// Boot sector, FSInfo, and their backups at sectors 6 and 7.
	boot := bootSector(g, info.VolumeID, label, opt.HiddenSectors)
	fsinfo := fsInfo(g.clusters-used, firstCluster+used, g.clusters)
	for _, s := range []struct {
		sector int64
		b      []byte
	}{{0, boot}, {1, fsinfo}, {6, boot}, {7, fsinfo}} {
		if _, err := w.WriteAt(s.b, s.sector*sectorSize); err != nil {
			return Info{}, fmt.Errorf("fat: writing boot sectors: %w", err)
		}
	}
	return info, nil
}

// WriteFile writes the volume to path atomically (a sparse file where the
// file system allows).
func WriteFile(path string, files []File, opt Options) (Info, error) {
	f, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return Info{}, err
	}
	defer f.Abort()
	if opt.Size == 0 {
		root, err := buildTree(files)
		if err != nil {
			return Info{}, err
		}
		if opt.Size, err = minSize(root, opt.Label != ""); err != nil {
			return Info{}, err
		}
	}
	if err := f.Truncate(opt.Size); err != nil {
		return Info{}, fmt.Errorf("fat: %s: %w", path, err)
	}
	info, err := Write(f.File, files, opt)
	if err != nil {
		return Info{}, err
	}
	return info, f.Commit()
}

// OSFile is a File whose data comes from a file on disk; the caller closes
// the returned closer after Write.
func OSFile(name, path string) (File, io.Closer, error) {
	f, err := os.Open(path)
	if err != nil {
		return File{}, nil, fmt.Errorf("fat: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return File{}, nil, fmt.Errorf("fat: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return File{}, nil, fmt.Errorf("fat: %s is not a regular file", path)
	}
	return File{Path: name, Size: fi.Size(), Data: f}, f, nil
}

func volumeLabel(s string) ([11]byte, error) {
	var b [11]byte
	copy(b[:], "NO NAME    ")
	if s == "" {
		return b, nil
	}
	if len(s) > 11 {
		return b, fmt.Errorf("fat: label %q is longer than 11 characters", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' && !shortChar(s[i]) {
			return b, fmt.Errorf("fat: label %q: %q is not allowed (A–Z, 0–9, space, %s)", s, s[i], shortChars)
		}
	}
	copy(b[:], s+strings.Repeat(" ", 11-len(s)))
	return b, nil
}

// timestamps in FAT's encoding.
type timestamps struct {
	date, time uint16
	tenth      uint8
}

// stamp encodes t's UTC wall clock, clamped to FAT's 1980–2107 range.
func stamp(t time.Time) timestamps {
	t = t.UTC()
	if t.Year() < 1980 {
		t = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if t.Year() > 2107 {
		t = time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)
	}
	return timestamps{
		date:  uint16(t.Year()-1980)<<9 | uint16(t.Month())<<5 | uint16(t.Day()),
		time:  uint16(t.Hour())<<11 | uint16(t.Minute())<<5 | uint16(t.Second()/2),
		tenth: uint8(t.Second()%2*100 + t.Nanosecond()/10_000_000),
	}
}

func shortEntry(name [11]byte, attr byte, cluster uint32, size uint32, ts timestamps) []byte {
	e := make([]byte, 32)
	copy(e, name[:])
	e[11] = attr
	e[13] = ts.tenth
	le := binary.LittleEndian
	le.PutUint16(e[14:], ts.time)
	le.PutUint16(e[16:], ts.date)
	le.PutUint16(e[18:], ts.date)
	le.PutUint16(e[20:], uint16(cluster>>16))
	le.PutUint16(e[22:], ts.time)
	le.PutUint16(e[24:], ts.date)
	le.PutUint16(e[26:], uint16(cluster))
	le.PutUint32(e[28:], size)
	return e
}

// encodeDir is a directory's entries ("." and ".." first in a
// subdirectory, the label first in the root).
func encodeDir(d *node, isRoot bool, label [11]byte, hasLabel bool, ts timestamps) []byte {
	var b bytes.Buffer
	if isRoot {
		if hasLabel {
			b.Write(shortEntry(label, attrVolumeID, 0, 0, ts))
		}
	} else {
		dot, dotdot := [11]byte{'.'}, [11]byte{'.', '.'}
		for i := 1; i < 11; i++ {
			dot[i] = ' '
			if i > 1 {
				dotdot[i] = ' '
			}
		}
		b.Write(shortEntry(dot, attrDir, d.cluster, 0, ts))
		b.Write(shortEntry(dotdot, attrDir, d.parentCluster, 0, ts))
	}
	for _, c := range d.children {
		if c.long {
			b.Write(lfnEntries(c.name, c.short))
		}
		if c.dir {
			b.Write(shortEntry(c.short, attrDir, c.cluster, 0, ts))
		} else {
			b.Write(shortEntry(c.short, 0, c.cluster, uint32(c.file.Size), ts))
		}
	}
	return b.Bytes()
}

func bootSector(g geometry, volID uint32, label [11]byte, hidden uint32) []byte {
	b := make([]byte, sectorSize)
	le := binary.LittleEndian
	copy(b[0:], []byte{0xEB, 0x58, 0x90})
	copy(b[3:], "MSWIN4.1") // the OEM name Microsoft recommends for compatibility
	le.PutUint16(b[11:], sectorSize)
	b[13] = byte(g.spc)
	le.PutUint16(b[14:], reserved)
	b[16] = numFATs
	b[21] = 0xF8 // fixed disk
	le.PutUint16(b[24:], 63)
	le.PutUint16(b[26:], 255)
	le.PutUint32(b[28:], hidden)
	le.PutUint32(b[32:], g.sectors)
	le.PutUint32(b[36:], g.fatSectors)
	le.PutUint32(b[44:], firstCluster) // root directory
	le.PutUint16(b[48:], 1)            // FSInfo sector
	le.PutUint16(b[50:], 6)            // backup boot sector
	b[64] = 0x80
	b[66] = 0x29
	le.PutUint32(b[67:], volID)
	copy(b[71:82], label[:])
	copy(b[82:90], "FAT32   ")
	// Not bootable from BIOS: the jump lands on "cli; hlt; jmp $-1".
	copy(b[90:], []byte{0xFA, 0xF4, 0xEB, 0xFD})
	b[510], b[511] = 0x55, 0xAA
	return b
}

func fsInfo(free, nextFree, clusters uint32) []byte {
	b := make([]byte, sectorSize)
	le := binary.LittleEndian
	le.PutUint32(b[0:], 0x41615252)
	le.PutUint32(b[484:], 0x61417272)
	le.PutUint32(b[488:], free)
	if nextFree >= clusters+firstCluster {
		nextFree = 0xFFFFFFFF
	}
	le.PutUint32(b[492:], nextFree)
	le.PutUint32(b[508:], 0xAA550000)
	return b
}
