// Package blockmap reads a virtual disk stored as fixed-size blocks that
// a table places in a host file, as qcow2 clusters and VHDX payload
// blocks are: the read loop both disk readers share, with the table
// lookup left to each format.
package blockmap

import (
	"fmt"
	"io"
)

// Lookup is where block b of the virtual disk starts in the host file;
// ok is false for a block that is not stored and reads as zeros.
type Lookup func(b int64) (host int64, ok bool, err error)

// ReadAt reads len(p) bytes at off of a virtual disk of size bytes,
// blockSize bytes per block, from r through lookup. At the disk's end it
// returns what it read and io.EOF. An error of lookup comes back as it
// is; one of r names the block.
func ReadAt(r io.ReaderAt, p []byte, off, size, blockSize int64, lookup Lookup) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("negative offset %d", off)
	}
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		if pos >= size {
			return done, io.EOF
		}
		b, in := pos/blockSize, pos%blockSize
		n := int(min(int64(len(p)-done), blockSize-in, size-pos))
		host, ok, err := lookup(b)
		if err != nil {
			return done, err
		}
		if !ok {
			clear(p[done : done+n])
		} else if _, err := r.ReadAt(p[done:done+n], host+in); err != nil {
			return done, fmt.Errorf("reading block %d: %w", b, err)
		}
		done += n
	}
	return done, nil
}
