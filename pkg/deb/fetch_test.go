package deb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/pkg/deb/fakearchive"
	"github.com/hardenvm/hardenvm/pkg/spec"
)

// lockFor locks testSpec against the archive.
func lockFor(t *testing.T, a *fakearchive.Archive) *spec.Lock {
	t.Helper()
	s, err := spec.Parse(writeSpec(t, a, testSpec), []byte(testSpec))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Lock(context.Background(), &Client{Mirrors: Mirrors{Debian: a.Mirror()}, Keyring: a.Keyring, Cache: &Cache{Dir: t.TempDir()}}, s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestFetch(t *testing.T) {
	a := fakearchive.New(t, "trixie", testPkgs)
	l := lockFor(t, a)
	cache := &Cache{Dir: t.TempDir()}
	var bar bytes.Buffer
	f := &Fetcher{Mirrors: Mirrors{Debian: a.Mirror()}, Cache: cache, Parallel: 3, Progress: &bar}
	paths, err := f.Fetch(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	all := l.All()
	if len(paths) != len(all) {
		t.Errorf("Fetch returned %d paths, want %d", len(paths), len(all))
	}
	for _, p := range all {
		got, err := os.ReadFile(paths[p.Name])
		if err != nil || fakearchive.SHA256(got) != p.SHA256 || paths[p.Name] != cache.Path(KindDeb, p.SHA256) {
			t.Errorf("%s: cached at %s with sha256 %s (%v), want %s at %s", p.Name, paths[p.Name], fakearchive.SHA256(got), err, p.SHA256, cache.Path(KindDeb, p.SHA256))
		}
	}
	if !strings.Contains(bar.String(), fmt.Sprintf("fetching %d/%d packages", len(all), len(all))) {
		t.Errorf("progress bar did not finish: %q", bar.String())
	}

	// Cached: a second fetch asks the mirror for nothing.
	busybox := l.Packages[0]
	hits := a.Hits(busybox.Path)
	if _, err := Fetch(context.Background(), l, Mirrors{Debian: a.Mirror()}, cache); err != nil {
		t.Fatal(err)
	}
	if a.Hits(busybox.Path) != hits {
		t.Errorf("a cached package was downloaded again")
	}

	// A damaged cache entry is noticed, thrown away and fetched again.
	if err := os.WriteFile(cache.Path(KindDeb, busybox.SHA256), []byte("bit rot"), 0o644); err != nil {
		t.Fatal(err)
	}
	paths, err = Fetch(context.Background(), l, Mirrors{Debian: a.Mirror()}, cache)
	if err != nil {
		t.Fatal(err)
	}
	if a.Hits(busybox.Path) != hits+1 {
		t.Errorf("damaged entry: %d downloads, want 1", a.Hits(busybox.Path)-hits)
	}
	if got, _ := os.ReadFile(paths[busybox.Name]); fakearchive.SHA256(got) != busybox.SHA256 {
		t.Errorf("damaged entry was not replaced: sha256 %s", fakearchive.SHA256(got))
	}
}

func TestFetchTamperedDeb(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func([]byte) []byte
	}{
		{"modified", func(b []byte) []byte { b[0] ^= 1; return b }},
		{"longer", func(b []byte) []byte { return append(b, "trailer"...) }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := fakearchive.New(t, "trixie", testPkgs)
			l := lockFor(t, a)
			var target spec.Package
			for _, p := range l.Packages {
				if p.Name == "libc6" {
					target = p
				}
			}
			a.Tamper(target.Path, tt.edit)
			cache := &Cache{Dir: t.TempDir()}
			_, err := Fetch(context.Background(), l, Mirrors{Debian: a.Mirror()}, cache)
			var de *DigestError
			if !errors.As(err, &de) {
				t.Fatalf("Fetch = %v, want a DigestError", err)
			}
			t.Logf("error: %v", err)
			served := a.Get(target.Path)
			for _, w := range []string{target.Path, "expected " + target.SHA256, "got " + fakearchive.SHA256(served)} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if a.Hits(target.Path) != 1 {
				t.Errorf("a digest mismatch was retried %d times", a.Hits(target.Path)-1)
			}
			if _, err := os.Stat(cache.Path(KindDeb, target.SHA256)); !os.IsNotExist(err) {
				t.Errorf("tampered .deb is in the cache")
			}
			assertOnlyDigests(t, cache)
		})
	}
}

// assertOnlyDigests checks that every file in the cache is named by its
// own sha256 (no temporary or mismatched leftovers).
func assertOnlyDigests(t *testing.T, c *Cache) {
	t.Helper()
	for _, kind := range []string{KindDeb, KindIndex} {
		dir := c.Path(kind, "")
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			b, err := os.ReadFile(dir + "/" + e.Name())
			if err != nil || fakearchive.SHA256(b) != e.Name() {
				t.Errorf("cache holds %s/%s, which is not its digest", kind, e.Name())
			}
		}
	}
}

func TestFetchMissing(t *testing.T) {
	a := fakearchive.New(t, "trixie", testPkgs)
	l := lockFor(t, a)
	a.Remove(l.Stub.Path)
	_, err := Fetch(context.Background(), l, Mirrors{Debian: a.Mirror()}, &Cache{Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "fetching "+l.Stub.Path+": HTTP 404") || !strings.Contains(err.Error(), "the mirror no longer has this version") {
		t.Errorf("Fetch of a missing file = %v", err)
	}
	if n := a.Hits(l.Stub.Path); n != 1 {
		t.Errorf("a 404 was asked %d times, want once", n)
	}
}

// TestFetchSpec: a build starts from spec + lock; a spec edited after
// locking is refused with the fix, before anything is downloaded.
func TestFetchSpec(t *testing.T) {
	a := fakearchive.New(t, "trixie", testPkgs)
	specPath := writeSpec(t, a, testSpec)
	cache := &Cache{Dir: t.TempDir()}
	if _, _, err := WriteLock(context.Background(), &Client{Mirrors: Mirrors{Debian: a.Mirror()}, Cache: cache}, specPath); err != nil {
		t.Fatal(err)
	}
	f := &Fetcher{Mirrors: Mirrors{Debian: a.Mirror()}, Cache: cache}
	s, l, paths, err := f.FetchSpec(context.Background(), specPath)
	if err != nil || s.Name != "t" || len(paths) != len(l.All()) {
		t.Fatalf("FetchSpec = %v, %d paths", err, len(paths))
	}
	edited := strings.Replace(testSpec, "packages: [busybox-static]", "packages: [busybox-static, unrelated]", 1)
	if err := os.WriteFile(specPath, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, _, err = f.FetchSpec(context.Background(), specPath)
	if err == nil || !strings.Contains(err.Error(), "packages: not locked [unrelated]") || !strings.Contains(err.Error(), "run 'hardenvm lock "+specPath+"'") {
		t.Errorf("FetchSpec with an edited spec = %v", err)
	}
}
