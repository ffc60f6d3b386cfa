package lz4

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	peer "github.com/pierrec/lz4/v4"
)

// inputs are the shapes a root filesystem holds: zeros, text, random
// bytes, a machine-code-like mix, and short edge cases around the
// end-of-block rules.
func inputs(t testing.TB) map[string][]byte {
	rng := rand.New(rand.NewPCG(3, 4))
	random := make([]byte, 100000)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog; "), 3000)
	mixed := make([]byte, 0, 300000)
	for len(mixed) < 300000 {
		if rng.IntN(3) == 0 {
			mixed = append(mixed, random[:rng.IntN(40)]...)
		} else {
			p := rng.IntN(len(text) - 200)
			mixed = append(mixed, text[p:p+rng.IntN(200)]...)
		}
	}
	in := map[string][]byte{
		"empty":  {},
		"one":    {7},
		"twelve": []byte("abcdabcdabcd"),
		"13":     []byte("aaaaaaaaaaaaa"),
		"zeros":  make([]byte, 1<<20),
		"text":   text,
		"random": random,
		"mixed":  mixed,
	}
	if exe, err := os.Executable(); err == nil {
		if b, err := os.ReadFile(exe); err == nil {
			in["binary"] = b[:min(len(b), 2<<20)]
		}
	}
	if b, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "src", "go", "types", "expr.go")); err == nil {
		in["gosource"] = b
	}
	return in
}

// TestCompressPrefixRoundTrip cuts each input into blocks that fit a
// budget, as EROFS does, and decodes every block with an independent
// decoder (pierrec/lz4): each must give back exactly the bytes it claims,
// and never exceed the budget.
func TestCompressPrefixRoundTrip(t *testing.T) {
	for name, src := range inputs(t) {
		for _, lv := range []Level{Fast, High} {
			for _, budget := range []int{16, 100, 4096} {
				src := src
				if budget < 4096 {
					src = src[:min(len(src), 20000)] // small blocks: a sample is enough
				}
				c := New(lv)
				dst := make([]byte, budget)
				out := make([]byte, 8<<20)
				total, blocks := 0, 0
				for pos := 0; pos < len(src) || blocks == 0; blocks++ {
					n, used := c.CompressPrefix(dst, src[pos:])
					if n > budget || n <= 0 {
						t.Fatalf("%s/%d/%d: block of %d bytes", name, lv, budget, n)
					}
					if used == 0 && len(src) > pos {
						t.Fatalf("%s/%d/%d: no progress at %d", name, lv, budget, pos)
					}
					got, err := peer.UncompressBlock(dst[:n], out)
					if err != nil {
						t.Fatalf("%s/%d/%d: block at %d: peer decoder: %v", name, lv, budget, pos, err)
					}
					if got != used || !bytes.Equal(out[:got], src[pos:pos+used]) {
						t.Fatalf("%s/%d/%d: block at %d decodes to %d bytes, want %d (equal %v)", name, lv, budget, pos, got, used, bytes.Equal(out[:min(got, used)], src[pos:pos+min(got, used)]))
					}
					pos += used
					total += n
					if len(src) == 0 {
						break
					}
				}
				if lv == High && budget == 4096 {
					t.Logf("%s: %d -> %d bytes in %d blocks", name, len(src), total, blocks)
				}
			}
		}
	}
}

// TestDeterministic: the same input gives the same blocks from a fresh
// compressor and from one that compressed something else before.
func TestDeterministic(t *testing.T) {
	in := inputs(t)
	a, b := New(High), New(High)
	b.CompressPrefix(make([]byte, 4096), in["random"])
	da, db := make([]byte, 4096), make([]byte, 4096)
	na, ua := a.CompressPrefix(da, in["mixed"])
	nb, ub := b.CompressPrefix(db, in["mixed"])
	if na != nb || ua != ub || !bytes.Equal(da[:na], db[:nb]) {
		t.Fatalf("CompressPrefix differs after earlier use: (%d,%d) vs (%d,%d)", na, ua, nb, ub)
	}
}

// TestLongMatchShortened: a match whose length bytes overflow the budget
// is cut to fit rather than dropped, so a block of zeros holds about 255
// bytes per output byte.
func TestLongMatchShortened(t *testing.T) {
	for _, lv := range []Level{Fast, High} {
		dst := make([]byte, 4096)
		n, used := New(lv).CompressPrefix(dst, make([]byte, 2<<20))
		if n > len(dst) || used < 1_000_000 {
			t.Errorf("level %d: 4096-byte block of zeros holds %d input bytes in %d, want over 1000000", lv, used, n)
		}
	}
}
