package gpt

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// Write writes the protective MBR, both headers and both entry arrays of
// t (with 512-byte sectors) to a disk of t.Sectors sectors. It writes
// nothing outside LBA 0–33 and the last 33 sectors.
//
// Zero GUIDs are derived, never random. Partition i without a GUID gets
// NewGUID("partition", number, type, name, first LBA, last LBA). Then, if
// the disk GUID is zero, it becomes NewGUID("disk", every entry's 128
// on-disk bytes), so it changes whenever any partition's identity,
// place, attributes or name does. Write stores the derived values in t.
func (t *Table) Write(w io.WriterAt) error {
	if t.SectorSize != 0 && t.SectorSize != SectorSize {
		return fmt.Errorf("gpt: writing %d-byte sectors is not supported (only %d)", t.SectorSize, SectorSize)
	}
	t.SectorSize = SectorSize
	if t.Sectors < FirstUsable+TailSectors+1 {
		return fmt.Errorf("gpt: disk of %d sectors is too small for a partition table", t.Sectors)
	}
	if len(t.Partitions) > EntryCount {
		return fmt.Errorf("gpt: %d partitions, at most %d fit", len(t.Partitions), EntryCount)
	}
	t.FirstUsableLBA = FirstUsable
	t.LastUsableLBA = t.Sectors - TailSectors - 1
	for i := range t.Partitions {
		p := &t.Partitions[i]
		p.Number = i + 1
		if p.GUID.IsZero() {
			p.GUID = NewGUID([]byte("partition"), u64(uint64(p.Number)), p.Type[:], []byte(p.Name),
				u64(p.FirstLBA), u64(p.LastLBA))
		}
	}
	if err := checkEntries(t.Partitions, t.FirstUsableLBA, t.LastUsableLBA); err != nil {
		return err
	}
	seen := map[GUID]int{}
	for _, p := range t.Partitions {
		if n, dup := seen[p.GUID]; dup {
			return fmt.Errorf("gpt: partitions %d and %d have the same GUID %s", n, p.Number, p.GUID)
		}
		seen[p.GUID] = p.Number
	}

	entries := make([]byte, entryArrayB)
	for i, p := range t.Partitions {
		e := entries[i*EntrySize : (i+1)*EntrySize]
		p.Type.encode(e[0:16])
		p.GUID.encode(e[16:32])
		binary.LittleEndian.PutUint64(e[32:], p.FirstLBA)
		binary.LittleEndian.PutUint64(e[40:], p.LastLBA)
		binary.LittleEndian.PutUint64(e[48:], p.Attributes)
		if err := encodeName(e[56:128], p.Name); err != nil {
			return err
		}
	}
	if t.DiskGUID.IsZero() {
		t.DiskGUID = NewGUID([]byte("disk"), entries[:len(t.Partitions)*EntrySize])
	}
	entriesCRC := crc32.ChecksumIEEE(entries)

	last := t.Sectors - 1
	primary := t.header(1, last, 2, entriesCRC)
	backup := t.header(last, 1, last-arraySecs, entriesCRC)

	writes := []struct {
		lba  uint64
		data []byte
	}{
		{0, protectiveMBR(t.Sectors)},
		{1, primary},
		{2, entries},
		{last - arraySecs, entries},
		{last, backup},
	}
	for _, wr := range writes {
		if _, err := w.WriteAt(wr.data, int64(wr.lba)*SectorSize); err != nil {
			return fmt.Errorf("gpt: writing LBA %d: %w", wr.lba, err)
		}
	}
	return nil
}

// header encodes a GPT header sector.
func (t *Table) header(my, alternate, entriesLBA uint64, entriesCRC uint32) []byte {
	h := make([]byte, SectorSize)
	copy(h, signature)
	le := binary.LittleEndian
	le.PutUint32(h[8:], revision1_0)
	le.PutUint32(h[12:], headerSize)
	le.PutUint64(h[24:], my)
	le.PutUint64(h[32:], alternate)
	le.PutUint64(h[40:], t.FirstUsableLBA)
	le.PutUint64(h[48:], t.LastUsableLBA)
	t.DiskGUID.encode(h[56:72])
	le.PutUint64(h[72:], entriesLBA)
	le.PutUint32(h[80:], EntryCount)
	le.PutUint32(h[84:], EntrySize)
	le.PutUint32(h[88:], entriesCRC)
	le.PutUint32(h[16:], crc32.ChecksumIEEE(h[:headerSize]))
	return h
}

// protectiveMBR is LBA 0: one partition of type 0xEE covering the disk
// (capped at 2^32-1 sectors), so MBR-only tools see the disk as in use.
func protectiveMBR(sectors uint64) []byte {
	b := make([]byte, SectorSize)
	e := b[446:462]
	e[1], e[2], e[3] = 0x00, 0x02, 0x00 // CHS of LBA 1
	e[4] = 0xEE
	e[5], e[6], e[7] = 0xFF, 0xFF, 0xFF
	binary.LittleEndian.PutUint32(e[8:], 1)
	size := sectors - 1
	if size > 0xFFFFFFFF {
		size = 0xFFFFFFFF
	}
	binary.LittleEndian.PutUint32(e[12:], uint32(size))
	b[510], b[511] = 0x55, 0xAA
	return b
}

func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
