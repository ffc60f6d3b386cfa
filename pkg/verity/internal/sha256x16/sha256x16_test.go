package sha256x16

import (
	"bytes"
	"context"
	"crypto/sha256"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestSumMatchesCryptoSHA256(t *testing.T) {
	if !Available {
		t.Skip("no AVX-512 on this CPU: the package is unused here (crypto/sha256 is)")
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for _, bs := range []int{64, 128, 512, 1024, 4096, 8192} {
		for _, s := range []int{0, 1, 8, 31, 32, 33, 55, 56, 57, 63, 64, 65, 119, 120, 128, 200, 256} {
			prefix := make([]byte, s)
			for i := range prefix {
				prefix[i] = byte(rng.Uint32())
			}
			h, err := New(prefix, bs)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 { // twice: scratch reuse
				src := make([]byte, Lanes*bs)
				for i := range src {
					src[i] = byte(rng.Uint32())
				}
				const stride = 40
				dst := make([]byte, Lanes*stride)
				h.Sum(dst, stride, src)
				for i := range Lanes {
					want := sha256.Sum256(append(bytes.Clone(prefix), src[i*bs:(i+1)*bs]...))
					if got := dst[i*stride : i*stride+32]; !bytes.Equal(got, want[:]) {
						t.Fatalf("block size %d, prefix %d, lane %d: %x, want %x", bs, s, i, got, want)
					}
				}
			}
		}
	}
}

func BenchmarkSum4096(b *testing.B) {
	for _, impl := range []string{"sha256x16", "crypto/sha256"} {
		b.Run(impl, func(b *testing.B) {
			if impl == "sha256x16" && !Available {
				b.Skip("no AVX-512")
			}
			prefix := make([]byte, 32)
			src := make([]byte, Lanes*4096)
			dst := make([]byte, Lanes*32)
			h, _ := New(prefix, 4096)
			b.SetBytes(int64(len(src)))
			for b.Loop() {
				if h != nil && impl == "sha256x16" {
					h.Sum(dst, 32, src)
					continue
				}
				for i := range Lanes {
					d := sha256.New()
					d.Write(prefix)
					d.Write(src[i*4096 : (i+1)*4096])
					d.Sum(dst[i*32 : i*32])
				}
			}
		})
	}
}

// FuzzSum compares with crypto/sha256 for any prefix and block contents.
func FuzzSum(f *testing.F) {
	f.Add([]byte("salt"), uint8(0), uint64(1))
	f.Add(make([]byte, 64), uint8(3), uint64(2))
	f.Fuzz(func(t *testing.T, prefix []byte, bsLog uint8, seed uint64) {
		if !Available {
			t.Skip("no AVX-512")
		}
		if len(prefix) > 300 {
			prefix = prefix[:300]
		}
		bs := 64 << (bsLog % 8) // 64 B to 8 KiB
		h, err := New(prefix, bs)
		if err != nil {
			t.Fatal(err)
		}
		src := make([]byte, Lanes*bs)
		rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(src)
		dst := make([]byte, Lanes*32)
		h.Sum(dst, 32, src)
		for i := range Lanes {
			want := sha256.Sum256(append(bytes.Clone(prefix), src[i*bs:(i+1)*bs]...))
			if !bytes.Equal(dst[i*32:i*32+32], want[:]) {
				t.Fatalf("prefix %d bytes, block size %d, lane %d: %x, want %x", len(prefix), bs, i, dst[i*32:i*32+32], want)
			}
		}
	})
}

// TestGenerated checks block_amd64.s is what gen.go writes.
func TestGenerated(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to run gen.go")
	}
	out := filepath.Join(t.TempDir(), "block.s")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if b, err := exec.CommandContext(ctx, gobin, "run", "gen.go", "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("go run gen.go: %v\n%s", err, b)
	}
	want, _ := os.ReadFile(out)
	got, _ := os.ReadFile("block_amd64.s")
	if !bytes.Equal(got, want) {
		t.Errorf("block_amd64.s is stale: run go generate in %s", "pkg/verity/internal/sha256x16")
	}
}
