package verity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"math/rand/v2"
	"testing"

	"github.com/hardenvm/hardenvm/pkg/verity/internal/sha256x16"
)

// memFile is an in-memory io.ReaderAt/io.WriterAt that grows on write.
type memFile struct{ b []byte }

func (m *memFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m.b)) {
		return 0, errors.New("read past end")
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, errors.New("short read")
	}
	return n, nil
}

func (m *memFile) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

// randomData returns n deterministic pseudo-random bytes.
func randomData(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := newChaCha(seed)
	r.Read(b)
	return b
}

// referenceTree is a deliberately naive second implementation of the
// format, written from the description alone: whole levels in memory,
// built bottom up, laid out top down.
func referenceTree(newH func() hash.Hash, data, salt []byte, dbs, hbs int) (tree, root []byte) {
	digest := func(b []byte) []byte {
		h := newH()
		h.Write(salt)
		h.Write(b)
		return h.Sum(nil)
	}
	var level [][]byte // blocks of the level being hashed
	for off := 0; off < len(data); off += dbs {
		level = append(level, data[off:off+dbs])
	}
	var levels [][]byte // each level's bytes, bottom first
	for len(level) > 1 {
		var out []byte
		for _, b := range level {
			out = append(out, digest(b)...)
		}
		if r := len(out) % hbs; r != 0 {
			out = append(out, make([]byte, hbs-r)...)
		}
		levels = append(levels, out)
		level = nil
		for off := 0; off < len(out); off += hbs {
			level = append(level, out[off:off+hbs])
		}
	}
	for i := len(levels) - 1; i >= 0; i-- {
		tree = append(tree, levels[i]...)
	}
	return tree, digest(level[0])
}

func TestOnlySHA256HasItsShape(t *testing.T) {
	for name, f := range algorithms {
		if h := f(); h.Size() == sha256.Size && h.BlockSize() == sha256.BlockSize && name != "sha256" {
			t.Errorf("%s looks like sha256 to blockHasher.vector: give it an explicit check", name)
		}
	}
}

// TestFormatMatchesReference runs with and without the AVX-512 hasher.
func TestFormatMatchesReference(t *testing.T) {
	for _, x16 := range []bool{false, true} {
		if x16 && !sha256x16.Available {
			t.Log("no AVX-512 here: only the crypto/sha256 path is checked")
			continue
		}
		t.Run(fmt.Sprintf("x16=%v", x16), func(t *testing.T) {
			defer func(old bool) { useX16 = old }(useX16)
			useX16 = x16
			testFormatMatchesReference(t)
		})
	}
}

func testFormatMatchesReference(t *testing.T) {
	tests := []struct {
		alg      string
		newH     func() hash.Hash
		dbs, hbs int
		blocks   []int
	}{
		// Around the level boundaries and the 2 MiB chunk boundary (512
		// blocks of 4096).
		{"sha256", sha256.New, 4096, 4096, []int{1, 2, 127, 128, 129, 511, 512, 513, 1025, 2049}},
		{"sha256", sha256.New, 512, 512, []int{1, 16, 17, 256, 257, 4097, 5000}},
		{"sha256", sha256.New, 1024, 512, []int{1, 17, 516}},
		{"sha512", sha512.New, 4096, 4096, []int{1, 64, 65, 4097}},
		{"sha512", sha512.New, 512, 4096, []int{3000}},
	}
	salt := []byte("the salt")
	uuid := [16]byte{1, 2, 3}
	for _, tt := range tests {
		for i, n := range tt.blocks {
			data := randomData(uint64(n), n*tt.dbs)
			wantTree, wantRoot := referenceTree(tt.newH, data, salt, tt.dbs, tt.hbs)
			for _, workers := range []int{1, 3} {
				var out memFile
				res, err := Format(context.Background(), bytes.NewReader(data), int64(len(data)), &out,
					Params{Algorithm: tt.alg, DataBlockSize: tt.dbs, HashBlockSize: tt.hbs, Salt: salt, UUID: uuid, Workers: workers})
				if err != nil {
					t.Fatalf("%s %d/%d %d blocks: Format: %v", tt.alg, tt.dbs, tt.hbs, n, err)
				}
				if !bytes.Equal(res.RootHash, wantRoot) {
					t.Errorf("%s %d/%d %d blocks, %d workers: root %x, want %x", tt.alg, tt.dbs, tt.hbs, n, workers, res.RootHash, wantRoot)
				}
				if int64(len(out.b)) != res.HashSize || res.HashSize != int64(tt.hbs+len(wantTree)) {
					t.Errorf("%s %d blocks: hash file %d bytes, HashSize %d, want %d", tt.alg, n, len(out.b), res.HashSize, tt.hbs+len(wantTree))
					continue
				}
				if !bytes.Equal(out.b[tt.hbs:], wantTree) {
					t.Errorf("%s %d/%d %d blocks, %d workers: tree differs from the reference", tt.alg, tt.dbs, tt.hbs, n, workers)
				}
				sb, err := ParseSuperblock(out.b)
				if err != nil {
					t.Fatal(err)
				}
				if want := res.Superblock(); sb.DataBlocks != uint64(n) || sb.UUID != uuid || !bytes.Equal(sb.Salt, salt) || sb.Algorithm != want.Algorithm {
					t.Errorf("superblock %+v, want %+v", sb, want)
				}
				if !allZero(out.b[SuperblockSize:tt.hbs]) {
					t.Errorf("superblock block not zero-padded")
				}
				if i == 0 && workers == 1 {
					t.Logf("%s %d/%d: checked %v blocks", tt.alg, tt.dbs, tt.hbs, tt.blocks)
				}
			}
		}
	}
}

func TestFormatDerivesSaltAndUUID(t *testing.T) {
	data := randomData(7, 300*4096)
	format := func(d []byte, p Params) (Result, []byte) {
		t.Helper()
		var out memFile
		res, err := Format(context.Background(), bytes.NewReader(d), int64(len(d)), &out, p)
		if err != nil {
			t.Fatal(err)
		}
		return res, out.b
	}
	a, fa := format(data, Params{})
	b, fb := format(data, Params{Workers: 1})
	if !bytes.Equal(fa, fb) || !bytes.Equal(a.RootHash, b.RootHash) {
		t.Errorf("two formats of the same data differ")
	}
	unsalted, _ := format(data, Params{Salt: []byte{}})
	g, _ := NewGeometry(300, 4096, 4096, 32)
	if want := DeriveSalt(g, "sha256", unsalted.RootHash); !bytes.Equal(a.Salt, want) {
		t.Errorf("derived salt %x, want DeriveSalt(unsalted root) = %x", a.Salt, want)
	}
	if want := DeriveUUID(a.Salt, a.RootHash); a.UUID != want {
		t.Errorf("derived UUID %x, want %x", a.UUID, want)
	}
	if v := a.UUID[6] >> 4; v != 8 {
		t.Errorf("derived UUID %s has version %d, want 8", FormatUUID(a.UUID), v)
	}
	// Explicit salt and UUID win, and the same salt with the derived UUID
	// gives the same file.
	c, fc := format(data, Params{Salt: a.Salt})
	if !bytes.Equal(fa, fc) || c.UUID != a.UUID {
		t.Errorf("format with the derived salt given explicitly differs")
	}
	// A nil hash writer computes the same result without writing.
	if r, err := Format(context.Background(), bytes.NewReader(data), int64(len(data)), nil, Params{}); err != nil || !bytes.Equal(r.RootHash, a.RootHash) || r.UUID != a.UUID {
		t.Errorf("Format with a nil writer = %x, %v; want root %x", r.RootHash, err, a.RootHash)
	}
	// One flipped bit changes salt, root and UUID.
	data[12345] ^= 1
	d, _ := format(data, Params{})
	if bytes.Equal(d.Salt, a.Salt) || bytes.Equal(d.RootHash, a.RootHash) || d.UUID == a.UUID {
		t.Errorf("changed data kept salt, root or UUID")
	}
}

func TestFormatErrors(t *testing.T) {
	data := make([]byte, 8192)
	tests := []struct {
		name string
		size int64
		p    Params
		is   error
	}{
		{"unaligned size", 5000, Params{}, ErrUnaligned},
		{"empty", 0, Params{}, nil},
		{"salt too long", 8192, Params{Salt: make([]byte, 257)}, ErrSaltTooLong},
		{"unknown algorithm", 8192, Params{Algorithm: "md5"}, ErrUnknownAlgorithm},
		{"bad block size", 8192, Params{DataBlockSize: 4000}, nil},
		{"short reader", 3 * 8192, Params{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out memFile
			_, err := Format(context.Background(), bytes.NewReader(data), tt.size, &out, tt.p)
			if err == nil {
				t.Fatal("Format succeeded, want an error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Format error %q, want one matching %q", err, tt.is)
			}
		})
	}
}

func TestFormatCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	data := make([]byte, 64<<20)
	var out memFile
	if _, err := Format(ctx, bytes.NewReader(data), int64(len(data)), &out, Params{Salt: []byte{}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Format with a cancelled context: %v, want context.Canceled", err)
	}
}

func newChaCha(seed uint64) *rand.ChaCha8 {
	return rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)})
}
