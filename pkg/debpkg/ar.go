package debpkg

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The ar format as dpkg writes it: the global magic, then per member a
// 60-byte header (name, mtime, uid, gid, mode, decimal size, "`\n") and the
// data padded to an even length. Only the common (System V / GNU) form with
// names up to 16 bytes: .deb members never need the long-name table.
const (
	arMagic     = "!<arch>\n"
	arHeaderLen = 60
)

// arReader walks the members of an ar archive.
type arReader struct {
	r    *bufio.Reader
	left int64 // unread bytes of the current member
	pad  bool  // the current member is followed by a padding byte
	off  int64 // offset of the next header, for errors
}

func newArReader(r io.Reader) (*arReader, error) {
	br := bufio.NewReader(r)
	magic := make([]byte, len(arMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != arMagic {
		return nil, errors.New("not an ar archive (a .deb starts with \"!<arch>\\n\")")
	}
	return &arReader{r: br, off: int64(len(arMagic))}, nil
}

// next skips what is left of the current member and returns the next
// member's name and size, or io.EOF after the last one.
func (a *arReader) next() (string, int64, error) {
	skip := a.left
	if a.pad {
		skip++
	}
	if _, err := io.CopyN(io.Discard, a.r, skip); err != nil {
		return "", 0, fmt.Errorf("ar member before offset %d: %w", a.off, io.ErrUnexpectedEOF)
	}
	a.left, a.pad = 0, false
	var h [arHeaderLen]byte
	n, err := io.ReadFull(a.r, h[:])
	if err == io.EOF {
		return "", 0, io.EOF
	}
	if err != nil {
		return "", 0, fmt.Errorf("ar header at offset %d: %d of %d bytes", a.off, n, arHeaderLen)
	}
	if string(h[58:60]) != "`\n" {
		return "", 0, fmt.Errorf("ar header at offset %d: bad terminator %q", a.off, h[58:60])
	}
	name := strings.TrimRight(string(h[0:16]), " ")
	name = strings.TrimSuffix(name, "/") // GNU ar ends names with "/"
	size, err := strconv.ParseInt(string(bytes.TrimRight(h[48:58], " ")), 10, 64)
	if err != nil || size < 0 {
		return "", 0, fmt.Errorf("ar header at offset %d: bad size %q", a.off, h[48:58])
	}
	a.left, a.pad = size, size%2 == 1
	a.off += arHeaderLen + size + size%2
	return name, size, nil
}

// Read reads from the current member.
func (a *arReader) Read(p []byte) (int, error) {
	if a.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > a.left {
		p = p[:a.left]
	}
	n, err := a.r.Read(p)
	a.left -= int64(n)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}
