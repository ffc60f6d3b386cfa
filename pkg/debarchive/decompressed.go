package debarchive

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

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
		// Its mtime says when a build last used it (PruneDecompressed).
		now := time.Now()
		os.Chtimes(p, now, now)
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

// DecompressedMax bounds the decompressed entries PruneDecompressed
// keeps: about two desktop images' worth (one is ~400 MB).
const DecompressedMax = 1 << 30

// decompressedRecent is how long after its last use an entry is never
// pruned: a build running beside this one may be about to open it.
const decompressedRecent = time.Hour

// PruneDecompressed removes the least recently used decompressed entries
// (by mtime, which Decompressed sets on every use) until those left take
// at most max bytes, and leftovers of killed writers. Entries this Cache
// used and entries used in the last hour are kept whatever their size,
// so a build never loses what it or a concurrent build unpacks. It
// returns the bytes removed. A build calls it when it is done with its
// packages; the downloaded .debs themselves are not pruned.
func (c *Cache) PruneDecompressed(max int64) (int64, error) {
	dir := filepath.Dir(c.Path(KindDecompressed, "x"))
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("decompressed cache: %w", err)
	}
	type entry struct {
		path string
		size int64
		used time.Time
	}
	var all []entry
	var total int64
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if strings.Contains(e.Name(), ".partial-") {
			// A killed writer's (atomicfile names them; a live one
			// holds its lock).
			atomicfile.RemoveStale(dir, e.Name())
			continue
		}
		all = append(all, entry{p, fi.Size(), fi.ModTime()})
		total += fi.Size()
	}
	// Most recently used first; the path breaks ties.
	slices.SortFunc(all, func(a, b entry) int {
		if c := b.used.Compare(a.used); c != 0 {
			return c
		}
		return strings.Compare(a.path, b.path)
	})
	var removed int64
	for i := len(all) - 1; i >= 0 && total > max; i-- {
		e := all[i]
		if _, mine := c.checked.Load(e.path); mine || time.Since(e.used) < decompressedRecent {
			continue
		}
		if err := os.Remove(e.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("decompressed cache: %w", err)
		}
		total -= e.size
		removed += e.size
	}
	return removed, nil
}
