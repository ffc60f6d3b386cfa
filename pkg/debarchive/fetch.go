package debarchive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hardenvm/hardenvm/pkg/imagespec"
)

// Fetcher downloads the .deb files a lock pins into the cache.
type Fetcher struct {
	Mirrors  Mirrors
	Cache    *Cache
	HTTP     *http.Client
	Log      *slog.Logger
	Parallel int       // concurrent downloads; 0 means 4
	Progress io.Writer // a terminal to draw a progress bar on, or nil
}

// Fetch makes every package the lock pins available in the cache, verified
// by sha256, and returns the cached path of each by package name. Entries
// already cached are re-hashed, not trusted; damaged ones are fetched again.
func Fetch(ctx context.Context, l *imagespec.Lock, mirrors Mirrors, cache *Cache) (map[string]string, error) {
	return (&Fetcher{Mirrors: mirrors, Cache: cache}).Fetch(ctx, l)
}

// Fetch: see the package-level Fetch.
func (f *Fetcher) Fetch(ctx context.Context, l *imagespec.Lock) (map[string]string, error) {
	c := &Client{Mirrors: f.Mirrors, Cache: f.Cache, HTTP: f.HTTP, Log: f.Log}
	pkgs := l.All()
	var total int64
	for _, p := range pkgs {
		total += p.Size
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var done atomic.Int64
	bar := newProgressBar(f.Progress, len(pkgs), total)
	defer bar.finish()
	var (
		mu       sync.Mutex
		paths    = map[string]string{}
		firstErr error
		wg       sync.WaitGroup
		next     atomic.Int64
	)
	workers := f.Parallel
	if workers <= 0 {
		workers = 4
	}
	start := time.Now()
	for range min(workers, len(pkgs)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(pkgs) || ctx.Err() != nil {
					return
				}
				p := pkgs[i]
				archive := ArchiveOf(p.Suite)
				if su := l.Suite(p.Suite); su != nil {
					archive = su.Archive
				}
				path, err := c.fetch(ctx, KindDeb, archive, p.Path, p.Path, p.SHA256, p.Size, func(n int) { bar.add(done.Add(int64(n))) })
				mu.Lock()
				if err != nil && firstErr == nil {
					var se *statusError
					if errors.As(err, &se) && se.code == http.StatusNotFound {
						err = fmt.Errorf("%w: the mirror no longer has this version; lock again ('hardenvm lock SPEC') or point --mirror/%s (--security-mirror/%s) at a snapshot that has it", err, MirrorEnv, SecurityMirrorEnv)
					}
					firstErr = fmt.Errorf("%s %s: %w", p.Name, p.Version, err)
					cancel()
				}
				paths[p.Name] = path
				bar.fileDone()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	c.log().Info("fetched packages", "count", len(pkgs), "bytes", total, "elapsed", time.Since(start).Round(time.Millisecond))
	return paths, nil
}

// progressBar draws "fetching 12/40 packages  45.2/120.0 MiB [####    ]"
// on a terminal, at most ten times a second. With no terminal it is silent.
type progressBar struct {
	w            io.Writer
	mu           sync.Mutex
	files, total int
	bytes        int64
	cur          int64
	last         time.Time
}

func newProgressBar(w io.Writer, files int, bytes int64) *progressBar {
	return &progressBar{w: w, total: files, bytes: bytes}
}

func (b *progressBar) add(cur int64) {
	if b.w == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cur = max(b.cur, cur)
	if time.Since(b.last) >= 100*time.Millisecond {
		b.draw()
	}
}

func (b *progressBar) fileDone() {
	if b.w == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.files++
	b.draw()
}

func (b *progressBar) draw() {
	b.last = time.Now()
	const width = 30
	fill := 0
	if b.bytes > 0 {
		fill = int(min(b.cur, b.bytes) * width / b.bytes)
	}
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = ' '
		if i < fill {
			bar[i] = '#'
		}
	}
	fmt.Fprintf(b.w, "\rfetching %d/%d packages %6.1f/%.1f MiB [%s]", b.files, b.total, float64(b.cur)/(1<<20), float64(b.bytes)/(1<<20), bar)
}

func (b *progressBar) finish() {
	if b.w == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.draw()
	fmt.Fprintln(b.w)
}
