package debarchive

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
)

// Cache is a content-addressed store of downloads: a file's name is its
// sha256, so an entry can be trusted only after hashing it again, which Get
// does every time (a corrupted or truncated entry is removed and fetched
// anew). Entries are written atomically and never modified.
type Cache struct {
	Dir string // e.g. $XDG_CACHE_HOME/hardenvm
	Log *slog.Logger

	checked sync.Map // decompressed entries found whole: path → true
}

// DefaultCache is $XDG_CACHE_HOME/hardenvm (~/.cache/hardenvm).
func DefaultCache() (*Cache, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return nil, fmt.Errorf("download cache: %w", err)
	}
	return &Cache{Dir: filepath.Join(dir, "hardenvm")}, nil
}

// Cache kinds: .deb files and compressed Packages indexes.
const (
	KindDeb   = "debs"
	KindIndex = "indexes"
)

// Path is where the entry of that kind and digest lives.
func (c *Cache) Path(kind, sum string) string {
	return filepath.Join(c.Dir, kind, "sha256", sum)
}

func (c *Cache) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Get returns the entry's path if it is present with the right size and
// digest. A damaged entry is deleted (and logged) so that it is fetched again.
func (c *Cache) Get(kind, sum string, size int64) (string, bool) {
	p := c.Path(kind, sum)
	f, err := os.Open(p)
	if err != nil {
		return "", false
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	got := hex.EncodeToString(h.Sum(nil))
	if err == nil && n == size && got == sum {
		return p, true
	}
	c.log().Warn("download cache: damaged entry, fetching again", "path", p, "size", n, "want_size", size, "sha256", got)
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		c.log().Warn("download cache: cannot remove damaged entry", "path", p, "err", err)
	}
	return "", false
}
