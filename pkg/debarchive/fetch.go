package debarchive

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// A File is one .deb to fetch: where it lies in which archive, and the
// sha256 and size it must have. Name and Version label errors; Name keys
// Fetch's result.
type File struct {
	Name, Version string
	Archive       string // ArchiveDebian or ArchiveSecurity
	Path          string // relative to the archive's root: pool/main/…
	SHA256        string
	Size          int64
}

// fetchWorkers is how many downloads Fetch runs at once.
const fetchWorkers = 4

// Fetch makes every file available in the cache, verified by sha256, and
// returns the cached path of each by name. Entries already cached are
// re-hashed, not trusted; damaged ones are fetched again.
func Fetch(ctx context.Context, files []File, mirrors Mirrors, cache *Cache) (map[string]string, error) {
	c := &Client{Mirrors: mirrors, Cache: cache}
	var total int64
	for _, f := range files {
		total += f.Size
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		paths    = map[string]string{}
		firstErr error
		wg       sync.WaitGroup
		next     atomic.Int64
	)
	start := time.Now()
	for range min(fetchWorkers, len(files)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(files) || ctx.Err() != nil {
					return
				}
				f := files[i]
				path, err := c.Deb(ctx, f.Archive, f.Path, f.SHA256, f.Size)
				mu.Lock()
				if err != nil && firstErr == nil {
					var se *statusError
					if errors.As(err, &se) && se.code == http.StatusNotFound {
						err = fmt.Errorf("%w: the mirror no longer has this version; lock again ('hardenvm lock SPEC') or point --mirror/%s (--security-mirror/%s) at a snapshot that has it", err, MirrorEnv, SecurityMirrorEnv)
					}
					firstErr = fmt.Errorf("%s %s: %w", f.Name, f.Version, err)
					cancel()
				}
				paths[f.Name] = path
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	c.log().Info("fetched packages", "count", len(files), "bytes", total, "elapsed", time.Since(start).Round(time.Millisecond))
	return paths, nil
}
