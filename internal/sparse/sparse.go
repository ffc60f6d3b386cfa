// Package sparse copies into a file without writing its runs of zeros, so
// that the copy is sparse where the source is zero and the file system
// allows. The destination must read as zeros where nothing is written: a
// new file truncated to its final size.
package sparse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Block is the granule of the zero check: a block of zeros this long
// (aligned to the start of the copy) is skipped.
const Block = 64 << 10

// ErrTooLong is Copy's refusal of a source longer than its limit.
var ErrTooLong = errors.New("more than the room given")

// Copy copies r to w at off, skipping every Block of zeros, and returns
// the number of bytes copied. A source longer than max bytes fails with
// ErrTooLong (what was written so far stays).
func Copy(w io.WriterAt, off int64, r io.Reader, max int64) (int64, error) {
	buf := make([]byte, 1<<20)
	zero := make([]byte, Block)
	var n int64
	for {
		k, rerr := io.ReadFull(r, buf)
		if k > 0 {
			if n+int64(k) > max {
				return n, fmt.Errorf("%w: %d bytes", ErrTooLong, max)
			}
			for i := 0; i < k; i += Block {
				end := min(i+Block, k)
				if bytes.Equal(buf[i:end], zero[:end-i]) {
					continue
				}
				if _, err := w.WriteAt(buf[i:end], off+n+int64(i)); err != nil {
					return n, err
				}
			}
			n += int64(k)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}
