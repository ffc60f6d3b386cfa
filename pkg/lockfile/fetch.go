package lockfile

import (
	"context"

	"github.com/hardenvm/hardenvm/pkg/debarchive"
	"github.com/hardenvm/hardenvm/pkg/imagespec"
)

// Fetch makes every package the lock pins available in the cache
// (debarchive.Fetch: verified by sha256, cached entries re-hashed) and
// returns the cached path of each by package name.
func Fetch(ctx context.Context, l *imagespec.Lock, mirrors debarchive.Mirrors, cache *debarchive.Cache) (map[string]string, error) {
	var files []debarchive.File
	for _, p := range l.All() {
		files = append(files, file(l, &p))
	}
	return debarchive.Fetch(ctx, files, mirrors, cache)
}

// file is where a pinned package lies: in the archive its suite was
// locked from.
func file(l *imagespec.Lock, p *imagespec.Package) debarchive.File {
	archive := debarchive.ArchiveOf(p.Suite)
	if su := l.Suite(p.Suite); su != nil {
		archive = su.Archive
	}
	return debarchive.File{Name: p.Name, Version: p.Version, Archive: archive, Path: p.Path, SHA256: p.SHA256, Size: p.Size}
}
