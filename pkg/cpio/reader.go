package cpio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ErrNotFound is returned by Find when the archive has no such member.
var ErrNotFound = errors.New("cpio: no such file in the archive")

// Find reads the newc archive from r up to its trailer and returns the
// data of the regular file called name, which may be at most max bytes.
// It reads only what it must: headers are checked, data of other members
// skipped. (Reading is the subset verification needs: one file out of an
// initramfs the build wrote.)
func Find(r io.Reader, name string, max int64) ([]byte, error) {
	br := bufio.NewReader(r)
	var off int64
	skip := func(n int64) error {
		k, err := io.CopyN(io.Discard, br, n)
		off += k
		return err
	}
	pad := func() error { return skip((4 - off%4) % 4) }
	for {
		var hdr [110]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil, fmt.Errorf("cpio: header at offset %d: %w", off, err)
		}
		off += 110
		if string(hdr[:6]) != magic {
			return nil, fmt.Errorf("cpio: offset %d: magic %q, want %q (newc)", off-110, hdr[:6], magic)
		}
		field := func(i int) (int64, error) {
			return strconv.ParseInt(string(hdr[6+8*i:14+8*i]), 16, 64)
		}
		mode, err1 := field(1)
		size, err2 := field(6)
		nameSize, err3 := field(11)
		if err := errors.Join(err1, err2, err3); err != nil || nameSize < 1 || nameSize > 4096 {
			return nil, fmt.Errorf("cpio: bad header at offset %d", off-110)
		}
		nb := make([]byte, nameSize)
		if _, err := io.ReadFull(br, nb); err != nil {
			return nil, fmt.Errorf("cpio: name at offset %d: %w", off, err)
		}
		off += nameSize
		member := string(nb[:nameSize-1])
		if err := pad(); err != nil {
			return nil, err
		}
		if member == trailer {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		if member == name && mode&typeMask == TypeFile {
			if size > max {
				return nil, fmt.Errorf("cpio: %s: %d bytes, more than the %d expected", name, size, max)
			}
			b := make([]byte, size)
			if _, err := io.ReadFull(br, b); err != nil {
				return nil, fmt.Errorf("cpio: %s: %w", name, err)
			}
			return b, nil
		}
		if err := skip(size); err != nil {
			return nil, fmt.Errorf("cpio: %s: %w", member, err)
		}
		if err := pad(); err != nil {
			return nil, err
		}
	}
}
