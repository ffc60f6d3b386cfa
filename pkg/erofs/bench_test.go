package erofs

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/fstree"
)

// synthDir writes a deterministic tree shaped like a root filesystem:
// many small files, some large ones, nested directories, symlinks.
func synthDir(b *testing.B) string {
	dir := b.TempDir()
	rng := rand.New(rand.NewPCG(7, 7))
	buf := make([]byte, 8<<20)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	for i := range 4000 {
		d := filepath.Join(dir, fmt.Sprintf("usr/lib/pkg%02d/sub%d", i%40, i%7))
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
		// Mostly small files, a few up to 8 MiB: about 60 MiB in all.
		size := int(rng.ExpFloat64() * 12000)
		if i%500 == 0 {
			size = len(buf) - i
		}
		size = min(size, len(buf))
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("file%04d.so", i)), buf[:size], 0o644); err != nil {
			b.Fatal(err)
		}
		if i%10 == 0 {
			os.Symlink(fmt.Sprintf("file%04d.so", i), filepath.Join(d, fmt.Sprintf("link%04d", i)))
		}
	}
	return dir
}

// BenchmarkWriteVsMkfsErofs builds the same directory into an image with
// FromDir+Write and with mkfs.erofs (uncompressed), alternating in one
// run, and reports the times and their ratio (hardenvm/mkfs < 1 means we
// are faster). Both read the tree from the (warm) page cache and write a
// file in the same directory. Like for like, both get an explicit UUID
// (mkfs.erofs -U); hardenvm-derived-uuid is our default, which also hashes
// the whole image with SHA-256 to derive the UUID from the content.
func BenchmarkWriteVsMkfsErofs(b *testing.B) {
	mkfs := testenv.Tool(b, "mkfs.erofs", "erofs-utils")
	for _, tc := range []struct{ name, dir string }{
		{"synthetic", synthDir(b)},
		{"goroot", runtime.GOROOT()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			out := b.TempDir()
			ours := func(uuid [16]byte) (time.Duration, int64) {
				t0 := time.Now()
				tr, err := fstree.FromDir(tc.dir)
				if err != nil {
					b.Fatal(err)
				}
				f, err := os.Create(filepath.Join(out, "ours.img"))
				if err != nil {
					b.Fatal(err)
				}
				img, err := Write(f, tr, Options{Epoch: epoch, UUID: uuid})
				if err != nil {
					b.Fatal(err)
				}
				n := img.Size
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
				return time.Since(t0), n
			}
			theirs := func() (time.Duration, int64) {
				img := filepath.Join(out, "mkfs.img")
				os.Remove(img)
				t0 := time.Now()
				cmd := exec.Command(mkfs, "--quiet", fmt.Sprintf("-T%d", epoch.Unix()), "-U", "6c6d4e0f-5f47-4b39-9e8c-0b1a2c3d4e5f", img, tc.dir)
				if o, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("mkfs.erofs: %v: %s", err, o)
				}
				d := time.Since(t0)
				fi, err := os.Stat(img)
				if err != nil {
					b.Fatal(err)
				}
				return d, fi.Size()
			}
			fixed := [16]byte{0x6c, 0x6d, 15: 1}
			ours(fixed) // warm the page cache and both code paths
			theirs()
			b.ResetTimer()
			var tFixed, tDerived, tTheirs time.Duration
			var sOurs, sTheirs int64
			for range b.N {
				d, n := ours(fixed)
				tFixed, sOurs = tFixed+d, n
				d, _ = ours([16]byte{})
				tDerived += d
				d, n = theirs()
				tTheirs, sTheirs = tTheirs+d, n
			}
			ms := func(d time.Duration) float64 { return float64(d.Milliseconds()) / float64(b.N) }
			b.ReportMetric(ms(tFixed), "ms/hardenvm")
			b.ReportMetric(ms(tDerived), "ms/hardenvm-derived-uuid")
			b.ReportMetric(ms(tTheirs), "ms/mkfs.erofs")
			b.ReportMetric(float64(tFixed)/float64(tTheirs), "hardenvm/mkfs")
			b.ReportMetric(float64(tDerived)/float64(tTheirs), "hardenvm-derived-uuid/mkfs")
			b.ReportMetric(float64(sOurs)/(1<<20), "MiB/hardenvm")
			b.ReportMetric(float64(sTheirs)/(1<<20), "MiB/mkfs.erofs")
		})
	}
}

// BenchmarkCompressedVsMkfsErofs compresses the same tree (GOROOT: Go's
// tool binaries, archives and sources, a few hundred MB) with Write and
// with mkfs.erofs -zlz4hc,12, in one run, alternating, and reports the
// pairs the bench table reads: one sub-benchmark per line, "-size" (MB)
// and "-time" (s), ours, the peer's and ours/peer. "lz4hc-4k" is
// like for like with mkfs.erofs's default (one-block pclusters);
// "lz4hc-16k" is what images use (DefaultPclusterBlocks) against
// mkfs.erofs -C16384. Our time includes reading the tree (FromDir) and
// uses every CPU, as hardenvm build does; mkfs.erofs 1.5 compresses on
// one.
func BenchmarkCompressedVsMkfsErofs(b *testing.B) {
	mkfs := testenv.Tool(b, "mkfs.erofs", "erofs-utils")
	dir := runtime.GOROOT()
	out := b.TempDir()
	type result struct {
		d    time.Duration
		size int64
	}
	ours := func(b *testing.B, pblocks int) result {
		t0 := time.Now()
		tr, err := fstree.FromDir(dir)
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.Create(filepath.Join(out, "ours.img"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		img, err := Write(f, tr, Options{Epoch: epoch, UUID: [16]byte{1}, Compression: CompressLZ4HC, PclusterBlocks: pblocks})
		if err != nil {
			b.Fatal(err)
		}
		return result{time.Since(t0), img.Size}
	}
	peer := func(b *testing.B, args ...string) result {
		img := filepath.Join(out, "mkfs.img")
		os.Remove(img)
		t0 := time.Now()
		args = append(append([]string{"--quiet", fmt.Sprintf("-T%d", epoch.Unix()), "-U", "6c6d4e0f-5f47-4b39-9e8c-0b1a2c3d4e5f"}, args...), img, dir)
		if o, err := exec.Command(mkfs, args...).CombinedOutput(); err != nil {
			b.Fatalf("mkfs.erofs %v: %v: %s", args, err, o)
		}
		d := time.Since(t0)
		fi, err := os.Stat(img)
		if err != nil {
			b.Fatal(err)
		}
		return result{d, fi.Size()}
	}
	for _, tc := range []struct {
		name    string
		pblocks int
		args    []string
	}{
		{"lz4hc-4k", 1, []string{"-zlz4hc,12"}},
		{"lz4hc-16k", 4, []string{"-zlz4hc,12", "-C16384"}},
	} {
		var o, p result
		b.Run(tc.name+"-time", func(b *testing.B) {
			var to, tp time.Duration
			for range b.N {
				o = ours(b, tc.pblocks)
				p = peer(b, tc.args...)
				to, tp = to+o.d, tp+p.d
			}
			b.ReportMetric(to.Seconds()/float64(b.N), "ours-s")
			b.ReportMetric(tp.Seconds()/float64(b.N), "peer-s")
			b.ReportMetric(float64(to)/float64(tp), "ratio")
			b.ReportMetric(1.0, "target-ratio")
		})
		b.Run(tc.name+"-size", func(b *testing.B) {
			if o.size == 0 {
				o, p = ours(b, tc.pblocks), peer(b, tc.args...)
			}
			b.ReportMetric(float64(o.size)/1e6, "ours-MB")
			b.ReportMetric(float64(p.size)/1e6, "peer-MB")
			b.ReportMetric(float64(o.size)/float64(p.size), "ratio")
			b.ReportMetric(1.05, "target-ratio")
		})
	}
}
