package disk

import (
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/pkg/fat"
)

// BenchmarkDiskBuild256MiBRoot assembles a disk from a 256 MiB root image
// (random, so nothing is sparse), a 2 MiB hash tree, a 1 MiB config and a
// 20 MiB boot loader on the ESP. Throughput counts the root image.
func BenchmarkDiskBuild256MiBRoot(b *testing.B) {
	dir := b.TempDir()
	rng := rand.NewChaCha8([32]byte{1})
	write := func(name string, n int64) *os.File {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		if _, err := io.CopyN(f, rng, n); err != nil {
			b.Fatal(err)
		}
		return f
	}
	root, verity, config, uki := write("root", 256<<20), write("verity", 2<<20), write("config", 1<<20), write("uki", 20<<20)
	hash := sha256.Sum256([]byte("bench"))

	b.SetBytes(256 << 20)
	for b.Loop() {
		f, c, err := fat.OSFile("EFI/BOOT/BOOTX64.EFI", uki.Name())
		if err != nil {
			b.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dir, "disk.raw"))
		if err != nil {
			b.Fatal(err)
		}
		_, err = Build(out, Image{ESP: []fat.File{f}, Time: time.Unix(0, 0), Root: io.NewSectionReader(root, 0, 256<<20),
			RootVerity: io.NewSectionReader(verity, 0, 2<<20), RootHash: hash[:], Config: io.NewSectionReader(config, 0, 1<<20)})
		c.Close()
		out.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
}
