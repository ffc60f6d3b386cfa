// Package verity builds and checks dm-verity hash trees that are byte for
// byte what `veritysetup format` writes, so the kernel's dm-verity target
// and veritysetup accept them, and hardenvm images can be rebuilt
// bit-identically.
//
// # What it implements
//
// The veritysetup on-disk format version 1 with hash type 1 (the only one in
// use outside old Chrome OS): a 512-byte superblock at the start of the hash
// device, zero-padded to one hash block, then the tree. A data block's digest
// is H(salt ‖ block); each hash block holds the digests of HashesPerBlock
// consecutive children, zero-padded; the levels are stored top level first,
// bottom level last; the root hash is H(salt ‖ top block). See Geometry for
// the level arithmetic, Superblock for the byte layout.
//
// Algorithms are sha256 (the default) and sha512; block sizes are powers of
// two from 512 bytes to 512 KiB (the kernel wants at most the page size).
// It refuses: hash type 0, format versions other than 1, sha1 and other
// algorithms, salts over 256 bytes, empty data, and data whose size is not a
// multiple of the data block size (veritysetup silently leaves such a tail
// unprotected; pad the image instead). It does not implement --hash-offset
// (tree on the data device), --no-superblock, or forward error correction.
//
// # Reproducible salt and UUID
//
// veritysetup draws a random salt and UUID. Format uses the ones given in
// Params; when they are not given it derives them from the content, so the
// same data always gives the same hash file and root hash:
//
//	R0   = root hash of the same tree computed with an empty salt
//	salt = SHA-256("hardenvm verity salt v1" NUL ‖ le64 data_blocks ‖
//	               le32 data_block_size ‖ le32 hash_block_size ‖
//	               algorithm NUL ‖ R0)                       (32 bytes)
//	uuid = SHA-256("hardenvm verity uuid v1" NUL ‖ salt ‖ root hash)[0:16],
//	       with the RFC 9562 version set to 8 and the variant to 10.
//
// R0 is what `veritysetup format --salt=-` prints as the root hash, so the
// derivation can be reproduced with the peer tool and sha256sum. Deriving
// the salt costs one more pass over the data (the tree needs the salt
// before it can hash the first block); callers that already have a content
// identity can pass a salt and skip it.
//
// # Design
//
// The pure core is Geometry (the tree shape), Superblock (parse/marshal),
// the salt/UUID derivation and Table (the kernel table line). Format and
// Verify are the edges: they read an io.ReaderAt and write an io.WriterAt,
// hash chunks of blocks on all cores, and keep memory bounded (a few MiB,
// independent of the data size): the upper levels are built incrementally as
// bottom-level digests stream in, in order.
//
// sha256 digests of data blocks are computed sixteen at a time with AVX-512
// where the CPU has it (internal/sha256x16, about twice the per-core speed
// of crypto/sha256's SHA-NI code), otherwise with crypto/sha256; the tests
// check both paths against each other and against veritysetup.
//
// Verify trusts top down, as the kernel does: the top block against the
// root hash, each hash block against its already checked parent, each data
// block against the bottom level. The first failing block is reported in a
// *CorruptionError that says whether it is a data or a hash block.
package verity
