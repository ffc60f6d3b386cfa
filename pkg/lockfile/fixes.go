package lockfile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hardenvm/hardenvm/pkg/debarchive"
	"github.com/hardenvm/hardenvm/pkg/debchangelog"
	"github.com/hardenvm/hardenvm/pkg/debpkg"
	"github.com/hardenvm/hardenvm/pkg/imagespec"
)

// Explain fills in what each version change brings: the entries of the
// new package's Debian changelog after the old version, up to the new one
// (their urgency and the CVE ids they name). It downloads the new .debs
// into the client's cache. A package whose doc directory links to another
// package of the new lock (Debian's kernel metapackages do) is explained
// by that package's changelog. What cannot be read is said in the
// change's Note, not an error: the lock itself is right either way.
func Explain(ctx context.Context, c *debarchive.Client, u *Update) {
	for i := range u.Changes {
		ch := &u.Changes[i]
		if ch.Old == nil || ch.New == nil {
			continue
		}
		c.Steps.Begin("reading the changelog of %s %s", ch.New.Name, ch.New.Version)
		text, err := changelog(ctx, c, u.New, ch.New)
		var nc *debpkg.NoChangelogError
		if errors.As(err, &nc) && nc.LinkedPackage() != "" {
			if p := pinnedAs(u.New, nc.LinkedPackage()); p != nil {
				text, err = changelog(ctx, c, u.New, p)
			}
		}
		if err != nil {
			ch.Note = fmt.Sprintf("%s %s: no changelog read: %v", ch.New.Name, ch.New.Version, err)
			continue
		}
		entries, err := debchangelog.Parse(strings.NewReader(string(text)))
		if err != nil || len(entries) == 0 {
			ch.Note = fmt.Sprintf("%s %s: changelog: %v", ch.New.Name, ch.New.Version, err)
			continue
		}
		// Bound by changelog versions, not package versions: a signed
		// kernel image 6.12.117-1 ships its source's changelog, whose
		// newest entry is 6.12.117+1.
		ch.Entries = debchangelog.Between(entries, newestEntry(ctx, c, u.Old, ch.Old), entries[0].Version)
	}
}

// newestEntry is the version of the newest changelog entry of a locked
// package (cached, or fetched if the mirror still has it), or its
// package version when that cannot be read.
func newestEntry(ctx context.Context, c *debarchive.Client, l *imagespec.Lock, p *imagespec.Package) string {
	text, err := changelog(ctx, c, l, p)
	if err != nil {
		return p.Version
	}
	entries, err := debchangelog.Parse(strings.NewReader(string(text)))
	if err != nil || len(entries) == 0 {
		return p.Version
	}
	return entries[0].Version
}

func changelog(ctx context.Context, c *debarchive.Client, l *imagespec.Lock, p *imagespec.Package) ([]byte, error) {
	deb := file(l, p)
	path, err := c.Deb(ctx, deb.Archive, deb.Path, deb.SHA256, deb.Size)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return debpkg.Changelog(f, p.Name, p.Arch)
}

func pinnedAs(l *imagespec.Lock, name string) *imagespec.Package {
	for _, p := range l.All() {
		if p.Name == name {
			return &p
		}
	}
	return nil
}
