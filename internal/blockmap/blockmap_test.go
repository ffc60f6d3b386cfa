package blockmap

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestReadAt reads a 10-byte disk of 4-byte blocks: block 0 stored at
// host offset 8, block 1 absent (zeros), block 2 (2 bytes, the disk's
// end) stored at 0.
func TestReadAt(t *testing.T) {
	host := []byte("XYabcdefghij")
	table := map[int64]int64{0: 8, 2: 0}
	lookup := func(b int64) (int64, bool, error) {
		h, ok := table[b]
		return h, ok, nil
	}
	for _, tc := range []struct {
		off     int64
		n       int
		want    []byte
		wantErr error
	}{
		{0, 10, []byte("ghij\x00\x00\x00\x00XY"), nil},
		{2, 4, []byte("ij\x00\x00"), nil},
		{7, 3, []byte("\x00XY"), nil},
		{8, 4, []byte("XY"), io.EOF},
		{10, 1, nil, io.EOF},
	} {
		p := bytes.Repeat([]byte{'?'}, tc.n)
		n, err := ReadAt(bytes.NewReader(host), p, tc.off, 10, 4, lookup)
		if !bytes.Equal(p[:n], tc.want) || !errors.Is(err, tc.wantErr) && (err != nil || tc.wantErr != nil) {
			t.Errorf("ReadAt(%d bytes at %d) = %q, %v; want %q, %v", tc.n, tc.off, p[:n], err, tc.want, tc.wantErr)
		}
	}
	if _, err := ReadAt(bytes.NewReader(host), make([]byte, 1), -1, 10, 4, lookup); err == nil {
		t.Error("ReadAt at a negative offset succeeded")
	}
	bad := errors.New("bad table")
	if _, err := ReadAt(bytes.NewReader(host), make([]byte, 1), 0, 10, 4, func(int64) (int64, bool, error) { return 0, false, bad }); !errors.Is(err, bad) {
		t.Errorf("a lookup error came back as %v", err)
	}
	if _, err := ReadAt(bytes.NewReader(host), make([]byte, 4), 0, 10, 4, func(int64) (int64, bool, error) { return 100, true, nil }); err == nil {
		t.Error("a block stored past the host file's end read without error")
	}
}
