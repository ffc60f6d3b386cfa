package debarchive

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/pkg/debpkg"
	"github.com/hardenvm/hardenvm/pkg/manifest"
)

// KindDecompressed holds .deb files rewritten with their data.tar
// decompressed (debpkg.WriteDecompressed): what a build unpacks instead
// of the downloaded .deb, because xz decompression is most of an
// uncached build's time. An entry is named <sha256 of the .deb>.<sha256
// of the entry>: the .deb's digest finds it, the entry's own digest
// checks it (once per Cache), like a download.
const KindDecompressed = "debs-decompressed"

// Decompressed returns the path of the decompressed form of the .deb at
// deb, whose sha256 is sum (already checked: a path Get returned). The
// first call for a package writes the entry (atomically: concurrent
// builds each write theirs and the last rename wins, with the same
// bytes); a damaged entry is removed and written again.
func (c *Cache) Decompressed(sum, deb string) (string, error) {
	dir := filepath.Dir(c.Path(KindDecompressed, sum))
	if p, ok := c.findDecompressed(dir, sum); ok {
		return p, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("decompressed cache: %w", err)
	}
	return c.writeDecompressed(dir, sum, deb)
}

// findDecompressed returns the entry of sum if there is one whose bytes
// match the digest in its name.
func (c *Cache) findDecompressed(dir, sum string) (string, bool) {
	names, _ := filepath.Glob(filepath.Join(dir, sum+".*"))
	for _, p := range names {
		want := strings.TrimPrefix(filepath.Ext(p), ".")
		if len(want) != sha256.Size*2 {
			continue // a ".partial-…" left by a killed build
		}
		if _, ok := c.checked.Load(p); ok {
			return p, true
		}
		if got, err := manifest.HashFile(p); err == nil && got.SHA256 == want {
			c.checked.Store(p, true)
			return p, true
		}
		c.log().Warn("decompressed cache: damaged entry, writing it again", "path", p)
		os.Remove(p)
	}
	return "", false
}

func (c *Cache) writeDecompressed(dir, sum, deb string) (string, error) {
	in, err := os.Open(deb)
	if err != nil {
		return "", fmt.Errorf("decompressed cache: %w", err)
	}
	defer in.Close()
	// A name of its own: concurrent writers of the same entry must not
	// share the temporary file (nor its stale-file cleanup).
	var nonce [8]byte
	rand.Read(nonce[:])
	partial := filepath.Join(dir, sum+".partial-"+hex.EncodeToString(nonce[:]))
	f, err := atomicfile.Create(partial, 0o644)
	if err != nil {
		return "", fmt.Errorf("decompressed cache: %w", err)
	}
	defer f.Abort()
	if err := debpkg.WriteDecompressed(f.File, in); err != nil {
		return "", fmt.Errorf("decompressing %s: %w", deb, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("decompressed cache: %w", err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f.File); err != nil {
		return "", fmt.Errorf("decompressed cache: %w", err)
	}
	if err := f.Commit(); err != nil {
		return "", fmt.Errorf("decompressed cache: %w", err)
	}
	p := filepath.Join(dir, sum+"."+hex.EncodeToString(h.Sum(nil)))
	if err := os.Rename(partial, p); err != nil {
		os.Remove(partial)
		return "", fmt.Errorf("decompressed cache: %w", err)
	}
	c.checked.Store(p, true)
	return p, nil
}
