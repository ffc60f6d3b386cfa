// Package fat writes FAT32 file systems for EFI system partitions.
//
// It implements only what an ESP built at image time needs: a fresh
// volume holding a handful of regular files in nested directories
// ("EFI/BOOT/BOOTX64.EFI", loader entries, ...). Supported: FAT32 with
// 512-byte sectors, two FATs, an FSInfo sector and a backup boot sector;
// long (VFAT) names wherever a name is not already a valid upper-case 8.3
// name, with generated "NAME~N" short aliases; empty directories; an
// optional volume label. Not supported: FAT12/16, reading or modifying an
// existing volume, file attributes other than directory, deleted entries,
// and sizes below FAT32's minimum of 65525 clusters (about 33 MiB) — the
// UEFI specification asks for FAT32 on a system partition, and OVMF and
// real firmware read it.
//
// Every output byte comes from the inputs: all timestamps are Options.Time
// (FAT keeps local time; we store the given time's UTC wall clock), entries
// are sorted by name, clusters are allocated contiguously in that order,
// and the volume ID is derived from what is written (see Write). Free
// clusters are not written, so writing into a new or truncated file keeps
// the image sparse.
package fat
