// Package erofs writes an fstree.Tree as an EROFS image, the read-only
// filesystem the VM's root (and config) partitions use under dm-verity,
// and reads files back from the same subset (Reader: the host looks into
// an image's config partition without mounting it).
//
// It intentionally implements only a subset of EROFS, the one the Linux
// kernel has mounted since 5.13 (big pclusters; Debian's cloud kernel
// builds EROFS with LZ4, which needs no option):
//
//   - 4096-byte blocks, superblock at 1024 with the crc32c checksum, metadata
//     from block 0 (so the root is nid 36, or 37 after a compressed
//     image's LZ4 record);
//   - compact (32-byte) inodes where they fit, extended (64-byte) ones for
//     owners above 65535, files of 4 GiB or more, more than 65535 links, or
//     an mtime other than the build time;
//   - data "flat plain" (whole blocks) or "flat inline" (whole blocks plus
//     the tail packed after the inode), never crossing a block boundary;
//   - with Options.Compression, regular files "compressed full": LZ4
//     pclusters (lz4 or lz4hc, pkg/lz4) of up to Options.PclusterBlocks
//     blocks, each filled with as much of the file as fits and its data
//     end-aligned (the 0PADDING feature), one full 8-byte lcluster index
//     per logical block with the pcluster's block count in the first
//     non-head index (big pclusters: the COMPR_CFGS record after the
//     superblock says LZ4 with that many blocks at most); files over
//     4 MiB are compressed in 4 MiB segments apart, so a pcluster ends
//     at each segment's end (see segmentSize); a pcluster that
//     saves no block is stored plain, and a file whose pclusters and
//     indexes would take no fewer bytes than flat stays flat;
//   - directories in sorted blocks, as the kernel's binary search expects;
//   - inline extended attributes with the built-in prefixes user., trusted.,
//     security. and the POSIX ACL names; notably security.capability, so
//     file capabilities survive without root;
//   - regular files, directories, symlinks, hard links (one inode, several
//     names), character and block devices, FIFOs.
//
// It refuses, with an error: other xattr prefixes (they need the long
// prefix table), names over 255 bytes, symlink targets over 4095 bytes,
// images over 2^32 blocks, and file contents whose length differs from what
// the tree declared. It never writes compact indexes, tail packing
// (ztailpacking), fragments, deduplication, algorithms other than LZ4,
// chunked files, shared xattrs or extra devices.
//
// Output is deterministic: inodes in depth-first byte order of names, data
// in the same order, each file (or segment of a large one) compressed on
// its own (so compressing on every CPU gives the same bytes as on one),
// every mtime clamped to
// Options.Epoch (the SOURCE_DATE_EPOCH) which is also the build time, and
// the UUID taken from
// Options or derived from the image's own bytes (SHA-256 of the metadata,
// CRC-32C of the data). The image length is a multiple of 4096, ready for a
// dm-verity hash tree.
package erofs
