package verity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

func formatMem(t testing.TB, data []byte, p Params) (Result, []byte) {
	t.Helper()
	var out memFile
	res, err := Format(context.Background(), bytes.NewReader(data), int64(len(data)), &out, p)
	if err != nil {
		t.Fatal(err)
	}
	return res, out.b
}

func verifyMem(data, hash, root []byte) (Result, error) {
	return Verify(context.Background(), bytes.NewReader(data), int64(len(data)), bytes.NewReader(hash), int64(len(hash)), root)
}

// TestVerifyNamesFlippedBlock flips one byte at many random positions, in
// data blocks and in hash blocks of every level, and checks that Verify
// names exactly the block that holds it.
func TestVerifyNamesFlippedBlock(t *testing.T) {
	tests := []struct {
		name     string
		blocks   int
		dbs, hbs int
		flips    int
	}{
		// 16385 blocks: three levels with a partial top; 2 MiB chunks. Each
		// flip costs a 64 MiB verify, so few here and many below.
		{"4096/4096 three levels", 16385, 4096, 4096, 10},
		// 512-byte blocks, 16 digests each: five levels on 2.5 MiB.
		{"512/512 five levels", 5000, 512, 512, 80},
		{"single block", 1, 4096, 4096, 20},
		{"two blocks", 2, 4096, 4096, 20},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := randomData(uint64(tt.blocks), tt.blocks*tt.dbs)
			res, hash := formatMem(t, data, Params{DataBlockSize: tt.dbs, HashBlockSize: tt.hbs, Salt: []byte("salt")})
			if _, err := verifyMem(data, hash, res.RootHash); err != nil {
				t.Fatalf("Verify of an intact tree: %v", err)
			}
			g, _ := res.Superblock().Geometry()
			levelOf := func(hashBlock uint64) int {
				for i, l := range g.Levels {
					if hashBlock-1 >= l.Start && hashBlock-1 < l.Start+l.Blocks {
						return i
					}
				}
				return -2
			}
			flips := tt.flips
			if testing.Short() {
				flips = min(flips, 20)
			}
			type flip struct {
				inHash bool
				pos    int64
			}
			var todo []flip
			for n := range flips {
				if n%2 == 1 && len(hash) > tt.hbs {
					todo = append(todo, flip{true, int64(tt.hbs) + rng.Int64N(int64(len(hash)-tt.hbs))})
				} else {
					todo = append(todo, flip{false, rng.Int64N(int64(len(data)))})
				}
			}
			// Random positions rarely land in the small top levels: add one
			// in the first and one in the last block of every level.
			for _, l := range g.Levels {
				for _, b := range []uint64{l.Start, l.Start + l.Blocks - 1} {
					todo = append(todo, flip{true, int64(1+b)*int64(tt.hbs) + rng.Int64N(int64(tt.hbs))})
				}
			}
			for _, f := range todo {
				inHash, pos := f.inHash, f.pos
				buf := data
				if inHash {
					buf = hash
				}
				mask := byte(1 + rng.IntN(255))
				buf[pos] ^= mask
				_, err := verifyMem(data, hash, res.RootHash)
				buf[pos] ^= mask

				var ce *CorruptionError
				if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
					t.Fatalf("flip at %d (hash file: %v): Verify error %v, want a *CorruptionError", pos, inHash, err)
				}
				bs := int64(tt.dbs)
				if inHash {
					bs = int64(tt.hbs)
				}
				want := CorruptionError{Hash: inHash, Block: uint64(pos / bs), Level: -1, Offset: pos / bs * bs, Size: int(bs)}
				if inHash {
					want.Level = levelOf(want.Block)
				}
				got := *ce
				got.Reason = ""
				if got != want {
					t.Errorf("flip at byte %d of the %s file: Verify reported %v, want block %d (level %d)",
						pos, map[bool]string{true: "hash", false: "data"}[inHash], ce, want.Block, want.Level)
				}
			}
		})
	}
}

func TestVerifyErrors(t *testing.T) {
	data := randomData(3, 300*4096)
	res, hash := formatMem(t, data, Params{})
	clone := func(b []byte, edit func([]byte) []byte) []byte { return edit(bytes.Clone(b)) }
	le := binary.LittleEndian
	otherRoot := bytes.Clone(res.RootHash)
	otherRoot[0] ^= 1
	tests := []struct {
		name       string
		data, hash []byte
		root       []byte
		is         error
		corrupt    bool // a *CorruptionError is expected
	}{
		{"truncated hash file", data, hash[:len(hash)-1], res.RootHash, ErrTruncated, false},
		{"hash file only a superblock", data, hash[:4096], res.RootHash, ErrTruncated, false},
		{"hash file shorter than a superblock", data, hash[:100], res.RootHash, ErrTruncated, false},
		{"truncated data", data[:len(data)-4096], hash, res.RootHash, ErrTruncated, false},
		{"wrong magic", data, clone(hash, func(b []byte) []byte { b[0] ^= 0xff; return b }), res.RootHash, ErrBadMagic, false},
		{"unknown algorithm", data, clone(hash, func(b []byte) []byte { copy(b[32:], "sha3\x00\x00\x00"); return b }), res.RootHash, ErrUnknownAlgorithm, false},
		{"salt over 256 bytes", data, clone(hash, func(b []byte) []byte { le.PutUint16(b[80:], 300); return b }), res.RootHash, ErrSaltTooLong, false},
		{"short root hash", data, hash, res.RootHash[:31], nil, false},
		{"wrong root hash", data, hash, otherRoot, ErrCorrupt, true},
		{"wrong salt in superblock", data, clone(hash, func(b []byte) []byte { b[88] ^= 1; return b }), res.RootHash, ErrCorrupt, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := verifyMem(tt.data, tt.hash, tt.root)
			if err == nil {
				t.Fatal("Verify succeeded, want an error")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Verify error %q, want one matching %q", err, tt.is)
			}
			var ce *CorruptionError
			if errors.As(err, &ce) != tt.corrupt {
				t.Errorf("Verify error %q: *CorruptionError %v, want %v", err, !tt.corrupt, tt.corrupt)
			}
		})
	}
}

// TestVerifyPadding: a tree whose unused digest slots are not zero is
// refused and the block named, even when the root hash is computed over it
// (veritysetup refuses such trees too).
// dirtyPaddingTree returns 129 data blocks and a tree whose last level-0
// block (hash block 3, holding one digest) has a non-zero byte in its
// unused area, with the top block and root hash recomputed over it.
func dirtyPaddingTree(t testing.TB) (data, hash, root []byte) {
	data = randomData(4, 129*4096)
	salt := []byte("s")
	_, hash = formatMem(t, data, Params{Salt: salt})
	hash[3*4096+100] = 7
	bh := newBlockHasher(sha256.New, salt)
	bh.sum(hash[1*4096+32:], hash[3*4096:4*4096])
	root = make([]byte, 32)
	bh.sum(root, hash[4096:2*4096])
	return data, hash, root
}

// TestVerifyPadding: a tree whose unused digest slots are not zero is
// refused and the block named, even when the root hash is computed over it
// (veritysetup refuses it too: TestPeerPadding).
func TestVerifyPadding(t *testing.T) {
	data, hash, root := dirtyPaddingTree(t)
	_, err := verifyMem(data, hash, root)
	var ce *CorruptionError
	if !errors.As(err, &ce) || !ce.Hash || ce.Block != 3 {
		t.Errorf("Verify = %v, want hash block 3 reported", err)
	}
}

func TestVerifyLongerData(t *testing.T) {
	data := randomData(5, 10*4096)
	res, hash := formatMem(t, data[:8*4096], Params{})
	got, err := verifyMem(data, hash, res.RootHash)
	if err != nil {
		t.Fatalf("Verify with trailing data: %v", err)
	}
	if got.DataBlocks != 8 || !bytes.Equal(got.RootHash, res.RootHash) || got.UUID != res.UUID {
		t.Errorf("Verify result %+v, want %+v", got, res)
	}
}

func ExampleTable() {
	r := Result{RootHash: bytes.Repeat([]byte{0xab}, 32), Salt: []byte{1, 2}, Algorithm: "sha256",
		DataBlockSize: 4096, HashBlockSize: 4096, DataBlocks: 262144, HashStartBlock: 1}
	fmt.Println(Table("/dev/vda2", "/dev/vda3", r, "panic_on_corruption"))
	r.Salt = nil
	fmt.Println(Table("252:2", "252:3", r))
	// Output:
	// 0 2097152 verity 1 /dev/vda2 /dev/vda3 4096 4096 262144 1 sha256 abababababababababababababababababababababababababababababababab 0102 1 panic_on_corruption
	// 0 2097152 verity 1 252:2 252:3 4096 4096 262144 1 sha256 abababababababababababababababababababababababababababababababab -
}

// FuzzVerify feeds arbitrary hash files to Verify. It must never panic or
// hang, and whenever it accepts a hash file, that file's tree must be
// exactly the one Format writes for the same data and parameters.
func FuzzVerify(f *testing.F) {
	data := randomData(11, 40*512)
	salt := []byte("fuzz")
	res, seed := formatMem(f, data, Params{DataBlockSize: 512, HashBlockSize: 512, Salt: salt})
	f.Add(seed)
	_, seed2 := formatMem(f, data[:16*512], Params{DataBlockSize: 512, HashBlockSize: 512, Salt: salt})
	f.Add(seed2)
	f.Fuzz(func(t *testing.T, hash []byte) {
		got, err := verifyMem(data, hash, res.RootHash)
		if err != nil {
			return
		}
		var out memFile
		want, err := Format(context.Background(), bytes.NewReader(data), int64(got.DataBlocks)*int64(got.DataBlockSize), &out,
			Params{Algorithm: got.Algorithm, DataBlockSize: got.DataBlockSize, HashBlockSize: got.HashBlockSize, Salt: got.Salt, UUID: got.UUID})
		if err != nil {
			t.Fatalf("Verify accepted a tree that Format cannot make: %v", err)
		}
		if !bytes.Equal(want.RootHash, res.RootHash) || !bytes.Equal(out.b[got.HashBlockSize:], hash[got.HashBlockSize:got.HashSize]) {
			t.Fatalf("Verify accepted a tree that differs from Format's")
		}
	})
}
