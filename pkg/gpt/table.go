package gpt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"unicode/utf16"
)

// Fixed geometry of the tables this package writes.
const (
	SectorSize  = 512
	EntrySize   = 128
	EntryCount  = 128
	entryArrayB = EntrySize * EntryCount   // 16 KiB
	arraySecs   = entryArrayB / SectorSize // 32
	FirstUsable = 2 + arraySecs            // LBA 34
	TailSectors = arraySecs + 1            // backup array + header
	headerSize  = 92
	maxNameLen  = 36 // UTF-16 code units in an entry's name field
	signature   = "EFI PART"
	revision1_0 = 0x00010000
)

// Table is a partition table. Partitions are listed in entry order; entry
// i of the array is Partitions[i] (the writer never leaves holes).
type Table struct {
	DiskGUID GUID
	// Sectors is the size of the disk in sectors; the backup header is at
	// Sectors-1.
	Sectors    uint64
	SectorSize int // 512 when writing; what was found when reading
	// Usable range for partitions, inclusive. Read fills them in; Write
	// uses FirstUsable .. Sectors-TailSectors-1.
	FirstUsableLBA, LastUsableLBA uint64
	Partitions                    []Partition
	// Damaged lists what Read found wrong with the header it did not
	// use or could not use: the primary (the table then comes from the
	// backup) or the backup (missing on a truncated disk). Empty when
	// both are intact.
	Damaged []string
}

// Partition is one used entry.
type Partition struct {
	Number     int // 1-based entry number, as sgdisk and the kernel count
	Type       GUID
	GUID       GUID
	FirstLBA   uint64
	LastLBA    uint64 // inclusive
	Attributes uint64
	Name       string
}

// Size is the partition's size in bytes for the given sector size.
func (p Partition) Size(sectorSize int) int64 {
	return int64(p.LastLBA-p.FirstLBA+1) * int64(sectorSize)
}

// Offset is where the partition starts, in bytes.
func (p Partition) Offset(sectorSize int) int64 { return int64(p.FirstLBA) * int64(sectorSize) }

// Find returns the partitions of the given type, in entry order.
func (t *Table) Find(typ GUID) []Partition {
	var out []Partition
	for _, p := range t.Partitions {
		if p.Type == typ {
			out = append(out, p)
		}
	}
	return out
}

// ErrNoTable means neither the primary nor the backup header is valid.
var ErrNoTable = errors.New("gpt: no valid GUID partition table")

func encodeName(b []byte, name string) error {
	u := utf16.Encode([]rune(name))
	if len(u) > maxNameLen {
		return fmt.Errorf("gpt: partition name %q is longer than %d UTF-16 units", name, maxNameLen)
	}
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return nil
}

func decodeName(b []byte) string {
	u := make([]uint16, 0, maxNameLen)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// checkEntries verifies that every partition lies in the usable range
// and that no two overlap.
func checkEntries(parts []Partition, first, last uint64) error {
	for _, p := range parts {
		if p.Type.IsZero() {
			return fmt.Errorf("gpt: partition %d has the zero type GUID (that marks an unused entry)", p.Number)
		}
		if p.FirstLBA > p.LastLBA || p.FirstLBA < first || p.LastLBA > last {
			return fmt.Errorf("gpt: partition %d (LBA %d–%d) is outside the usable range %d–%d",
				p.Number, p.FirstLBA, p.LastLBA, first, last)
		}
	}
	s := append([]Partition(nil), parts...)
	sort.Slice(s, func(i, j int) bool { return s[i].FirstLBA < s[j].FirstLBA })
	for i := 1; i < len(s); i++ {
		if s[i].FirstLBA <= s[i-1].LastLBA {
			return fmt.Errorf("gpt: partitions %d and %d overlap", s[i-1].Number, s[i].Number)
		}
	}
	return nil
}
