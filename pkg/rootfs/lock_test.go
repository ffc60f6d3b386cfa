package rootfs

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/debarchive"
	"github.com/hardenvm/hardenvm/pkg/imagespec"
	"github.com/hardenvm/hardenvm/pkg/lockfile"
)

// TestMinimalReproducible is the acceptance check: the root
// filesystem of images/minimal.yml, built twice from its lock, each time
// with an empty download cache, has the same sha256.
func TestMinimalReproducible(t *testing.T) {
	s, l, err := imagespec.LoadLocked("../../images/minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	mirrors, err := debarchive.FindMirrors(debarchive.Mirrors{}, "/")
	if err != nil {
		testenv.Missing(t, "a Debian mirror in the host's apt sources ("+err.Error()+")", "apt (or set HARDENVM_DEBIAN_MIRROR)")
	}
	rootOnly := *l
	rootOnly.Kernel = nil // 35 MB, and not part of the root filesystem
	var sums [2][32]byte
	for i := range sums {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		paths, err := lockfile.Fetch(ctx, &rootOnly, mirrors, &debarchive.Cache{Dir: t.TempDir()})
		if err != nil {
			testenv.Missing(t, "the packages pinned in images/minimal.lock.json ("+err.Error()+")", "a mirror that still serves them (or re-run hardenvm lock)")
		}
		tr, err := FromLock(s, l, paths, epoch, UnpackOptions{})
		if err != nil {
			t.Fatal(err)
		}
		img := filepath.Join(t.TempDir(), "root.erofs")
		f, err := os.Create(img)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Build(tr, f, Options{Epoch: epoch}); err != nil {
			t.Fatal(err)
		}
		f.Close()
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		sums[i] = sha256.Sum256(b)
		t.Logf("build %d: %d bytes, sha256 %x", i, len(b), sums[i])
	}
	if sums[0] != sums[1] {
		t.Errorf("two builds from fresh caches differ: %x vs %x", sums[0], sums[1])
	}
}
