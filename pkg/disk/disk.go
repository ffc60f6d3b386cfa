// Package disk assembles raw GPT disk images from partition contents:
// the generic Write places any list of partitions, and Build lays out the
// hardenvm disk (ESP, root, root-verity, optional root-verity-sig and
// config) by the Discoverable Partitions Specification.
//
// Layout: every partition starts on a 1 MiB boundary and takes a whole
// number of MiB; after the last one comes the requested free space
// (where the guest creates its data partition on first boot), then 1 MiB
// holding the backup GPT. Contents are streamed from files, never held in
// memory, into a file truncated to the final size, and runs of zeros are
// not written, so the output is sparse where the file system allows. The
// output appears atomically, complete or not at all.
//
// Nothing is random. Partition i (0-based) without a GUID gets
// gpt.NewGUID("partition-content", [i], type, name, SHA-256 of its whole
// region), and
// the disk GUID follows from the entries (see gpt.Table.Write), so the
// same contents always give the same bytes.
package disk

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
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

	// Contents: either Path, a file copied to the start of the
	// partition, or Fill, which writes them itself (w is the partition's
	// region; lba is where it starts on the disk). Neither: all zeros.
	Path string
	Fill func(w io.WriterAt, lba uint64) error

	// Size in bytes, rounded up to Align. Zero means Path's size rounded
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

// Write writes the disk described by l to path.
func Write(path string, l Layout) (*Result, error) {
	parts, total, err := place(l)
	if err != nil {
		return nil, err
	}
	f, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	defer f.Abort()
	if err := f.Truncate(total); err != nil {
		return nil, fmt.Errorf("disk: %s: %w", path, err)
	}
	t := &gpt.Table{Sectors: uint64(total / gpt.SectorSize)}
	for i, p := range l.Partitions {
		gp := &parts[i]
		off, size := gp.Offset(gpt.SectorSize), gp.Size(gpt.SectorSize)
		switch {
		case p.Path != "":
			if err := copySparse(f.File, off, size, p.Path); err != nil {
				return nil, fmt.Errorf("disk: partition %q: %w", p.Name, err)
			}
		case p.Fill != nil:
			w := &regionWriter{f.File, off, size}
			if err := p.Fill(w, gp.FirstLBA); err != nil {
				return nil, fmt.Errorf("disk: partition %q: %w", p.Name, err)
			}
		}
		if gp.GUID.IsZero() {
			h := sha256.New()
			if _, err := io.Copy(h, io.NewSectionReader(f.File, off, size)); err != nil {
				return nil, fmt.Errorf("disk: hashing partition %q: %w", p.Name, err)
			}
			gp.GUID = gpt.NewGUID([]byte("partition-content"), []byte{byte(i)}, gp.Type[:], []byte(gp.Name), h.Sum(nil))
		}
	}
	t.Partitions = parts
	if err := t.Write(f.File); err != nil {
		return nil, fmt.Errorf("disk: %w", err)
	}
	if err := f.Commit(); err != nil {
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
		if p.Path != "" {
			fi, err := os.Stat(p.Path)
			if err != nil {
				return nil, 0, fmt.Errorf("disk: partition %q: %w", p.Name, err)
			}
			if !fi.Mode().IsRegular() {
				return nil, 0, fmt.Errorf("disk: partition %q: %s is not a regular file", p.Name, p.Path)
			}
			if size == 0 {
				size = fi.Size()
			} else if fi.Size() > size {
				return nil, 0, fmt.Errorf("disk: partition %q: %s is %d bytes, more than the partition's %d",
					p.Name, p.Path, fi.Size(), size)
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

// copySparse copies the file at path to w at off (sparse.Copy: w reads
// as zeros already).
func copySparse(w io.WriterAt, off, max int64, path string) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	if _, err := sparse.Copy(w, off, src, max); err != nil {
		if errors.Is(err, sparse.ErrTooLong) {
			return fmt.Errorf("%s grew past the partition's %d bytes while copying", path, max)
		}
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

// regionWriter confines a Fill function to its partition.
type regionWriter struct {
	w         io.WriterAt
	off, size int64
}

func (r *regionWriter) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > r.size {
		return 0, fmt.Errorf("write of %d bytes at %d leaves the %d-byte partition", len(p), off, r.size)
	}
	return r.w.WriteAt(p, r.off+off)
}
