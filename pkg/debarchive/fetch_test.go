package debarchive

import (
	"cmp"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/pkg/debarchive/fakearchive"
)

// testPkgs is a small archive: a root with its dependencies, a kernel
// metapackage and its image, the boot stub, and a package not locked.
var testPkgs = []fakearchive.Pkg{
	{Name: "busybox-static", Version: "1:1.37.0-6", Depends: "libc6 (>= 2.36)"},
	{Name: "libc6", Version: "2.41-12", Priority: "required"},
	{Name: "init-helper", Version: "1.0", Arch: "all"},
	{Name: "unrelated", Version: "1.0"},
	{Name: "linux-image-cloud-amd64", Version: "6.12.117-1"},
	{Name: "linux-image-6.12.117+deb13-cloud-amd64", Version: "6.12.117-1", Body: []byte("vmlinuz and modules")},
	{Name: "systemd-boot-efi", Version: "257.13-1~deb13u1"},
}

// filesFor lists the archive's packages as a lock pins them (resolving
// them is package lockfile's job): all but "unrelated".
func filesFor(a *fakearchive.Archive) []File {
	var files []File
	for _, p := range testPkgs {
		if p.Name == "unrelated" {
			continue
		}
		p.Arch = cmp.Or(p.Arch, "amd64")
		b := a.Get(p.Filename())
		files = append(files, File{Name: p.Name, Version: p.Version, Archive: ArchiveDebian, Path: p.Filename(), SHA256: fakearchive.SHA256(b), Size: int64(len(b))})
	}
	return files
}

// named returns the file of that package.
func named(t *testing.T, files []File, name string) File {
	t.Helper()
	for _, f := range files {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no package %s", name)
	return File{}
}

func TestFetch(t *testing.T) {
	a := fakearchive.New(t, "trixie", testPkgs)
	all := filesFor(a)
	cache := &Cache{Dir: t.TempDir()}
	paths, err := Fetch(context.Background(), all, Mirrors{Debian: a.Mirror()}, cache)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != len(all) {
		t.Errorf("Fetch returned %d paths, want %d", len(paths), len(all))
	}
	for _, p := range all {
		got, err := os.ReadFile(paths[p.Name])
		if err != nil || fakearchive.SHA256(got) != p.SHA256 || paths[p.Name] != cache.Path(KindDeb, p.SHA256) {
			t.Errorf("%s: cached at %s with sha256 %s (%v), want %s at %s", p.Name, paths[p.Name], fakearchive.SHA256(got), err, p.SHA256, cache.Path(KindDeb, p.SHA256))
		}
	}

	// Cached: a second fetch asks the mirror for nothing.
	busybox := named(t, all, "busybox-static")
	hits := a.Hits(busybox.Path)
	if _, err := Fetch(context.Background(), all, Mirrors{Debian: a.Mirror()}, cache); err != nil {
		t.Fatal(err)
	}
	if a.Hits(busybox.Path) != hits {
		t.Errorf("a cached package was downloaded again")
	}

	// A damaged cache entry is noticed, thrown away and fetched again.
	if err := os.WriteFile(cache.Path(KindDeb, busybox.SHA256), []byte("bit rot"), 0o644); err != nil {
		t.Fatal(err)
	}
	paths, err = Fetch(context.Background(), all, Mirrors{Debian: a.Mirror()}, cache)
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
			all := filesFor(a)
			target := named(t, all, "libc6")
			a.Tamper(target.Path, tt.edit)
			cache := &Cache{Dir: t.TempDir()}
			_, err := Fetch(context.Background(), all, Mirrors{Debian: a.Mirror()}, cache)
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
	all := filesFor(a)
	stub := named(t, all, "systemd-boot-efi")
	a.Remove(stub.Path)
	_, err := Fetch(context.Background(), all, Mirrors{Debian: a.Mirror()}, &Cache{Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "fetching "+stub.Path+": HTTP 404") || !strings.Contains(err.Error(), "the mirror no longer has this version") {
		t.Errorf("Fetch of a missing file = %v", err)
	}
	if n := a.Hits(stub.Path); n != 1 {
		t.Errorf("a 404 was asked %d times, want once", n)
	}
}
