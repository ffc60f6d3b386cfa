// Package debtest gives tests real Debian packages: it downloads them with
// the host's apt-get, so from the host's own mirror (the project names
// none), into a temporary directory.
package debtest

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testenv"
)

// Download fetches the candidate version of pkg for the host's
// architecture and returns the .deb's path. Without apt-get, or when the
// download fails, the test is skipped (failed in CI, see testenv).
func Download(t testing.TB, pkg string) string {
	t.Helper()
	apt := testenv.Tool(t, "apt-get", "apt")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, apt, "download", "-q", pkg)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		testenv.Missing(t, fmt.Sprintf("%s .deb (apt-get download: %v: %s)", pkg, err, out), pkg+" from the host's apt sources (run apt-get update)")
	}
	m, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if len(m) != 1 {
		t.Fatalf("apt-get download %s left %v", pkg, m)
	}
	return m[0]
}
