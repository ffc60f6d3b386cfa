// Package disk assembles raw GPT disk images from partition contents:
// the generic Write places any list of partitions, and Build lays out the
// hardenvm disk (ESP, root, root-verity, optional root-verity-sig and
// config) by the Discoverable Partitions Specification.
//
// Layout: every partition starts on a 1 MiB boundary and takes a whole
// number of MiB; after the last one comes the requested free space
// (where the guest creates its data partition on first boot), then 1 MiB
// holding the backup GPT. Contents are read from readers and written to an
// io.WriterAt that reads as zeros where nothing is written (a new file:
// opening, syncing and renaming it is the caller's), and runs of zeros are
// not written, so the output is sparse where the file system allows. A
// partition's contents are streamed, never held in memory, except those a
// Fill function writes (the ESP), which are assembled in memory first.
//
// Nothing is random. Partition i (0-based) without a GUID gets
// gpt.NewGUID("partition-content", [i], type, name, SHA-256 of its whole
// region), and
// the disk GUID follows from the entries (see gpt.Table.Write), so the
// same contents always give the same bytes.
package disk

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"math"

	"github.com/hardenvm/hardenvm/internal/sparse"
	"github.com/hardenvm/hardenvm/pkg/gpt"
)

// Align is the partition alignment and size granule.
const Align = 1 << 20

// Partition is one partition of the disk to write.
type Partition struct {
	Type       gpt.GUID
	Name       string
	GUID       gpt.GUID // zero: derived from the partition's content
	Attributes uint64

	// Contents: either Data, copied to the start of the partition, or
	// Fill, which writes them itself (w is the partition's region; lba is
	// where it starts on the disk). Neither: all zeros.
	Data *io.SectionReader
	Fill func(w io.WriterAt, lba uint64) error

	// Size in bytes, rounded up to Align. Zero means Data's size rounded
	// up (a Fill or empty partition must give its size).
	Size int64
}

// Layout is a disk to write.
type Layout struct {
	Partitions []Partition
	// Free is unpartitioned space left after the last partition.
	Free int64
}

// Result describes the written disk.
type Result struct {
	Size  int64
	Table *gpt.Table
}

// Write writes the disk described by l to w, which must read as zeros
// where nothing is written (a new, empty file), and returns its size and
// the partition table it wrote.
func Write(w io.WriterAt, l Layout) (*Result, error) {
	parts, total, err := place(l)
	if err != nil {
		return nil, err
	}
	t := &gpt.Table{Sectors: uint64(total / gpt.SectorSize)}
	for i, p := range l.Partitions {
		gp := &parts[i]
		off, size := gp.Offset(gpt.SectorSize), gp.Size(gpt.SectorSize)
		h := sha256.New()
		var n int64 // bytes of the region written (and hashed); zeros follow
		switch {
		case p.Data != nil:
			if n, err = copySparse(w, off, p.Data, h); err != nil {
				return nil, fmt.Errorf("disk: partition %q: %w", p.Name, err)
			}
		case p.Fill != nil:
			region := make(memRegion, size)
			if err := p.Fill(region, gp.FirstLBA); err != nil {
				return nil, fmt.Errorf("disk: partition %q: %w", p.Name, err)
			}
			if n, err = copySparse(w, off, bytes.NewReader(region), h); err != nil {
				return nil, fmt.Errorf("disk: partition %q: %w", p.Name, err)
			}
		}
		if gp.GUID.IsZero() {
			if _, err := io.CopyN(h, zeros{}, size-n); err != nil {
				return nil, fmt.Errorf("disk: hashing partition %q: %w", p.Name, err)
			}
			gp.GUID = gpt.NewGUID([]byte("partition-content"), []byte{byte(i)}, gp.Type[:], []byte(gp.Name), h.Sum(nil))
		}
	}
	t.Partitions = parts
	if err := t.Write(w); err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	return &Result{Size: total, Table: t}, nil
}

// place computes every partition's LBAs and the disk size.
func place(l Layout) ([]gpt.Partition, int64, error) {
	if len(l.Partitions) == 0 {
		return nil, 0, fmt.Errorf("disk: no partitions")
	}
	if l.Free < 0 {
		return nil, 0, fmt.Errorf("disk: negative free space %d", l.Free)
	}
	var out []gpt.Partition
	off := int64(Align) // LBA 2048: room for the primary GPT, and aligned
	for _, p := range l.Partitions {
		size := p.Size
		if p.Data != nil {
			if size == 0 {
				size = p.Data.Size()
			} else if p.Data.Size() > size {
				return nil, 0, fmt.Errorf("disk: partition %q: its contents are %d bytes, more than the partition's %d",
					p.Name, p.Data.Size(), size)
			}
		}
		if size <= 0 {
			return nil, 0, fmt.Errorf("disk: partition %q has no size", p.Name)
		}
		size = roundUp(size)
		out = append(out, gpt.Partition{
			Type: p.Type, GUID: p.GUID, Name: p.Name, Attributes: p.Attributes,
			FirstLBA: uint64(off / gpt.SectorSize),
			LastLBA:  uint64((off+size)/gpt.SectorSize) - 1,
		})
		off += size
	}
	return out, off + roundUp(l.Free) + Align, nil
}

func roundUp(n int64) int64 { return (n + Align - 1) / Align * Align }

// copySparse copies r to w at off (sparse.Copy: w reads as zeros
// already) and hashes every byte into h. It returns the number of bytes
// copied.
func copySparse(w io.WriterAt, off int64, r io.Reader, h hash.Hash) (int64, error) {
	n, err := sparse.Copy(w, off, io.TeeReader(r, h), math.MaxInt64)
	if err != nil {
		return n, fmt.Errorf("copying: %w", err)
	}
	return n, nil
}

// memRegion is a partition's region in memory, for a Fill function: it
// refuses writes that leave the partition.
type memRegion []byte

func (r memRegion) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(r)) {
		return 0, fmt.Errorf("write of %d bytes at %d leaves the %d-byte partition", len(p), off, len(r))
	}
	return copy(r[off:], p), nil
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
