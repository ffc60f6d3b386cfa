package imagebuild

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/pkg/manifest"
)

// TestUnhardenedForBenchmarks: the option puts the unhardened parameter
// on the signed command line and "unhardened": true in the manifest,
// which verify then refuses; arm64 specs are refused before any work.
func TestUnhardenedForBenchmarks(t *testing.T) {
	if testing.Short() {
		t.Skip("fetches the minimal image's packages; skipped with -short")
	}
	keysDir := keySet(t)
	out := filepath.Join(t.TempDir(), "out")
	o := options(t, keysDir, out)
	o.UnhardenedForBenchmarks = true
	m, err := Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Unhardened || !strings.HasSuffix(m.Cmdline, " hardenvm.unhardened=benchmarks-only") {
		t.Errorf("manifest unhardened %v, cmdline %q", m.Unhardened, m.Cmdline)
	}
	if err := verifyImage(t, keysDir, out).Err(); err == nil || !strings.Contains(err.Error(), manifest.ErrUnhardened.Error()) {
		t.Errorf("verify of an unhardened image: %v, want %v", err, manifest.ErrUnhardened)
	}

	arm := filepath.Join(t.TempDir(), "arm")
	o = options(t, keysDir, arm)
	o.Spec, _ = filepath.Abs("../../images/minimal-arm64.yml")
	o.UnhardenedForBenchmarks = true
	if _, err := Build(context.Background(), o); err == nil || !strings.Contains(err.Error(), "amd64 images only") {
		t.Errorf("arm64 unhardened build: %v, want a refusal", err)
	}
	if _, err := os.Stat(arm); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused build left %s: %v", arm, err)
	}
}
