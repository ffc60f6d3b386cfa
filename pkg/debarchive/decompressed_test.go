package debarchive_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/pkg/debarchive"
	"github.com/hardenvm/hardenvm/pkg/debarchive/fakearchive"
	"github.com/hardenvm/hardenvm/pkg/debpkg"
)

// TestDecompressed: the first use writes the entry (concurrent uses agree
// on it), it unpacks like the .deb, and a damaged entry is written again.
func TestDecompressed(t *testing.T) {
	deb := fakearchive.Deb(t, "hello", "1.0-1", "hello (1.0-1) unstable; urgency=low\n")
	sum := fakearchive.SHA256(deb)
	debPath := filepath.Join(t.TempDir(), "hello.deb")
	if err := os.WriteFile(debPath, deb, 0o644); err != nil {
		t.Fatal(err)
	}
	c := &debarchive.Cache{Dir: t.TempDir()}
	paths := make([]string, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range paths {
		wg.Go(func() { paths[i], errs[i] = c.Decompressed(sum, debPath) })
	}
	wg.Wait()
	for i := range paths {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Fatalf("Decompressed #%d = %q, %v; want %q", i, paths[i], errs[i], paths[0])
		}
	}
	if !strings.HasPrefix(filepath.Base(paths[0]), sum+".") {
		t.Errorf("entry %s is not named by the .deb's digest %s", paths[0], sum)
	}
	entries, _ := filepath.Glob(filepath.Join(filepath.Dir(paths[0]), "*"))
	if len(entries) != 1 {
		t.Errorf("cache holds %v, want one entry", entries)
	}
	f, err := os.Open(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	p, err := debpkg.Read(f)
	f.Close()
	if err != nil || p.Control["Package"] != "hello" {
		t.Fatalf("debpkg.Read(entry) = %+v, %v", p, err)
	}

	// Damage it: a new Cache (another process) notices and writes it again.
	if err := os.WriteFile(paths[0], []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := (&debarchive.Cache{Dir: c.Dir}).Decompressed(sum, debPath)
	if err != nil || again != paths[0] {
		t.Fatalf("Decompressed after damage = %q, %v; want %q", again, err, paths[0])
	}
	if b, _ := os.ReadFile(again); strings.HasPrefix(string(b), "garbage") {
		t.Errorf("the damaged entry was reused")
	}

	// A .deb that is not one: one error naming it, nothing left behind.
	bad := filepath.Join(t.TempDir(), "bad.deb")
	os.WriteFile(bad, []byte("not a deb"), 0o644)
	if _, err := c.Decompressed(strings.Repeat("0", 64), bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("Decompressed(bad) = %v, want an error naming %s", err, bad)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(paths[0]), strings.Repeat("0", 64)+"*")); len(left) != 0 {
		t.Errorf("a failed decompression left %v", left)
	}
}

// TestPruneDecompressed: beyond the bound, the least recently used
// entries go first; what this Cache used, what was used in the last hour
// and the downloads stay; a killed writer's partial file goes.
func TestPruneDecompressed(t *testing.T) {
	c := &debarchive.Cache{Dir: t.TempDir()}
	var paths []string
	for i, name := range []string{"a", "b", "c", "d"} {
		deb := fakearchive.Deb(t, name, "1.0-1", name+" (1.0-1) unstable; urgency=low\n")
		debPath := filepath.Join(t.TempDir(), name+".deb")
		if err := os.WriteFile(debPath, deb, 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := c.Decompressed(fakearchive.SHA256(deb), debPath)
		if err != nil {
			t.Fatal(err)
		}
		// a: used 5 hours ago, b: 4, c: 3, d: 2.
		used := time.Now().Add(-time.Duration(5-i) * time.Hour)
		if err := os.Chtimes(p, used, used); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	dir := filepath.Dir(paths[0])
	partial := filepath.Join(dir, "."+strings.Repeat("e", 64)+".partial-0011223344556677.tmp-123")
	old := time.Now().Add(-time.Hour)
	os.WriteFile(partial, []byte("half"), 0o644)
	os.Chtimes(partial, old, old)
	fi, err := os.Stat(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	size := fi.Size()

	// Another build (a new Cache) used c just now, through Decompressed.
	other := &debarchive.Cache{Dir: c.Dir}
	sumOf := func(p string) string { return strings.SplitN(filepath.Base(p), ".", 2)[0] }
	if _, err := other.Decompressed(sumOf(paths[2]), "/nonexistent: found in the cache"); err != nil {
		t.Fatal(err)
	}
	removed, err := other.PruneDecompressed(2*size + size/2)
	if err != nil {
		t.Fatal(err)
	}
	// Four entries over a bound of two and a half: a and b go (least
	// recently used), c (used by this Cache) and d stay.
	for i, want := range []bool{false, false, true, true} {
		if _, err := os.Stat(paths[i]); (err == nil) != want {
			t.Errorf("entry %d present = %v, want %v", i, err == nil, want)
		}
	}
	if removed < 2*size-1024 || removed > 2*size+1024 {
		t.Errorf("PruneDecompressed removed %d bytes, want about %d", removed, 2*size)
	}
	if _, err := os.Stat(partial); err == nil {
		t.Error("a killed writer's partial file stayed")
	}
	// Everything is recent or used: nothing more goes, whatever the bound.
	now := time.Now()
	os.Chtimes(paths[3], now, now)
	if removed, err := other.PruneDecompressed(0); err != nil || removed != 0 {
		t.Errorf("PruneDecompressed(0) of recent entries = %d, %v; want 0, nil", removed, err)
	}
}
