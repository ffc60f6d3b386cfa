// Package gpt reads and writes GUID Partition Tables (UEFI 2.10 §5.3).
//
// The writer produces exactly one layout: 512-byte sectors, a protective
// MBR, a primary header at LBA 1 with a 128-entry array at LBA 2–33, and the
// backup array and header at the end of the disk, with their CRC32s. It
// writes only the table; the caller places partition contents. Nothing is
// random: a zero disk or partition GUID is derived from the table itself
// (see Table.Write and NewGUID), so the same table gives the same bytes.
//
// The reader is small and depends only on the standard library, so that
// the static guest init can find partitions by type GUID. It accepts 512-
// and 4096-byte sectors, checks both CRC32s, falls back to the backup
// header when the primary is damaged, and refuses entries that leave the
// usable area or overlap. It does not repair tables and ignores the MBR.
package gpt
