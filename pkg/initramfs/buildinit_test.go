package initramfs

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestBuildInitReproducibleStatic builds the guest init twice: the same
// bytes, a static executable (no interpreter, no dynamic section).
func TestBuildInitReproducibleStatic(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips two builds of the guest init")
	}
	dir := t.TempDir()
	var bins [2][]byte
	for i := range bins {
		out := filepath.Join(dir, "init"+string(rune('a'+i)))
		if err := BuildInit(context.Background(), "", out); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		bins[i] = b
	}
	if !bytes.Equal(bins[0], bins[1]) {
		t.Error("two builds of the guest init differ")
	}
	f, err := elf.NewFile(bytes.NewReader(bins[0]))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the guest init has a %v program header: not static", p.Type)
		}
	}
	// The paths -trimpath strips: the source tree and the module cache.
	// (Not just $HOME: for root it is /root, a string the init may well
	// hold for its own reasons.)
	wd, _ := os.Getwd()
	modcache, _ := exec.Command("go", "env", "GOMODCACHE").Output()
	for _, p := range []string{filepath.Dir(filepath.Dir(wd)), string(bytes.TrimSpace(modcache))} {
		if len(p) > 1 && bytes.Contains(bins[0], []byte(p+"/")) {
			t.Errorf("the guest init contains the builder's path %s", p)
		}
	}
	t.Logf("guest init: %d bytes", len(bins[0]))
}

// TestBuildInitArm64 cross-compiles the guest init for arm64 images: an
// AArch64 static executable.
func TestBuildInitArm64(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips a build of the guest init")
	}
	out := filepath.Join(t.TempDir(), "init")
	if err := BuildInitFor(context.Background(), "", out, "arm64"); err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 {
		t.Errorf("machine %v, want EM_AARCH64", f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the arm64 guest init has a %v program header: not static", p.Type)
		}
	}
}
