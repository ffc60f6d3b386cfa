package imagebuild

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/pkg/imagedir"
)

// TestStageCacheIdentical builds images/minimal.yml without the stage
// cache, then twice with it (filling it, then reusing every stage): the
// three outputs must be the same bytes, and the last build must have
// reused the root, the initramfs, the SBOM and the disk digest.
func TestStageCacheIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("fetches the minimal image's packages; skipped with -short")
	}
	keysDir := keySet(t)
	dir := t.TempDir()
	stages := filepath.Join(dir, "stages")
	var logs [3]bytes.Buffer
	var outs [3]string
	for i := range outs {
		outs[i] = filepath.Join(dir, "out"+string(rune('a'+i)))
		o := options(t, keysDir, outs[i])
		o.NoStageCache = i == 0
		o.StageCache = stages
		o.Log = slog.New(slog.NewTextHandler(&logs[i], &slog.HandlerOptions{Level: slog.LevelDebug}))
		if _, err := Build(context.Background(), o); err != nil {
			t.Fatalf("build %d: %v", i, err)
		}
	}
	for _, kind := range []string{"root", "initramfs", "sbom", "disk"} {
		hit := "stage cache hit\" kind=" + kind + " "
		if strings.Contains(logs[1].String(), hit) {
			t.Errorf("the build that filled the cache reports a %s hit", kind)
		}
		if !strings.Contains(logs[2].String(), hit) {
			t.Errorf("the build with nothing changed did not reuse the %s entry:\n%s", kind, logs[2].String())
		}
	}
	// Every artifact but the two signatures (ECDSA randomizes them) is
	// byte for byte the uncached build's.
	for _, name := range []string{imagedir.Disk, imagedir.UKI, imagedir.Vars, imagedir.SBOM, imagedir.Manifest} {
		want, err := os.ReadFile(filepath.Join(outs[0], name))
		if err != nil {
			t.Fatal(err)
		}
		for _, out := range outs[1:] {
			got, err := os.ReadFile(filepath.Join(out, name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s of %s differs from the uncached build's", name, filepath.Base(out))
			}
		}
	}
	// A changed input misses: a different epoch makes every key new.
	o := options(t, keysDir, filepath.Join(dir, "outd"))
	o.StageCache = stages
	o.NoStageCache = false
	o.Epoch = o.Epoch.Add(1)
	var log bytes.Buffer
	o.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if _, err := Build(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(log.String(), "stage cache hit") {
		t.Errorf("a build with another epoch reused a stage:\n%s", log.String())
	}
}

func TestStageCacheKey(t *testing.T) {
	c := &stageCache{dir: t.TempDir(), log: slog.New(slog.DiscardHandler)}
	tests := []struct {
		name string
		a, b []string
		same bool
	}{
		{"same parts", []string{"root", "x", "y"}, []string{"root", "x", "y"}, true},
		{"other kind", []string{"root", "x"}, []string{"sbom", "x"}, false},
		{"parts shifted", []string{"root", "ab", "c"}, []string{"root", "a", "bc"}, false},
		{"one more part", []string{"root", "x"}, []string{"root", "x", ""}, false},
	}
	bs := func(s []string) [][]byte {
		var out [][]byte
		for _, p := range s[1:] {
			out = append(out, []byte(p))
		}
		return out
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka, kb := c.key(tt.a[0], bs(tt.a)...), c.key(tt.b[0], bs(tt.b)...)
			if (ka == kb) != tt.same {
				t.Errorf("key(%q) == key(%q) is %v, want %v", tt.a, tt.b, ka == kb, tt.same)
			}
		})
	}
}

// TestStageCacheEvict: the most recently used entries of a kind stay,
// the others go, and temporary directories of running builds are left.
func TestStageCacheEvict(t *testing.T) {
	c := &stageCache{dir: t.TempDir(), log: slog.New(slog.DiscardHandler)}
	base := time.Now().Add(-time.Hour)
	names := []string{"e0", "e1", "e2", "e3", "e4", ".e5.tmp-1"}
	for i, n := range names {
		p := filepath.Join(c.dir, "root", n)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		tm := base.Add(time.Duration(i) * time.Minute)
		if n == "e1" {
			tm = base.Add(time.Hour) // used last (lookup touches it)
		}
		if err := os.Chtimes(p, tm, tm); err != nil {
			t.Fatal(err)
		}
	}
	c.evict("root")
	var left []string
	des, _ := os.ReadDir(filepath.Join(c.dir, "root"))
	for _, de := range des {
		left = append(left, de.Name())
	}
	want := []string{".e5.tmp-1", "e1", "e3", "e4"}
	if strings.Join(left, " ") != strings.Join(want, " ") {
		t.Errorf("after evict: %v, want %v", left, want)
	}
}
