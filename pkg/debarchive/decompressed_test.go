package debarchive_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

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
