// Package cosigntest finds cosign, the independent sigstore verifier that
// tests check our bundles with (pkg/sign's manifest bundles, the build's
// provenance).
package cosigntest

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testenv"
)

// Env is the environment cosign runs in from tests: no network state, no
// cache outside home, and blobs the size of a disk image allowed (cosign
// refuses more than 128 MiB by default).
func Env(home string) []string {
	return append(os.Environ(), "HOME="+home, "TUF_ROOT="+filepath.Join(home, "tuf"), "SIGSTORE_NO_CACHE=true",
		"COSIGN_MAX_ATTACHMENT_SIZE=8GiB")
}

// Verify runs a cosign verification command (verify-blob,
// verify-blob-attestation, ...) in Env(home) for at most a minute and says
// whether it passed, with its output.
func Verify(t *testing.T, bin, home string, args ...string) (bool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = Env(home)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("cosign %s timed out: %s", args[0], out)
	}
	return err == nil && strings.Contains(string(out), "Verified OK"), string(out)
}

// Binary returns the cosign binary scripts/fetch-cosign builds from the Go
// module proxy (or $HARDENVM_COSIGN), skipping the test when it is missing
// (failing in CI).
func Binary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HARDENVM_COSIGN"); p != "" {
		return p
	}
	_, self, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(self), "..", "..", "scripts", "fetch-cosign")
	f, err := os.Open(script)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	version := ""
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if v, ok := strings.CutPrefix(sc.Text(), "version="); ok {
			version = v
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(cache, "hardenvm", "cosign", version, "cosign")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	msg := "cosign " + version + " not found in " + filepath.Dir(p) + ": run scripts/fetch-cosign (it builds cosign from the Go module proxy)"
	if !testenv.Required() {
		t.Skip(msg)
	}
	// CI: build it now (once per machine; minutes).
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, script)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s\nscripts/fetch-cosign: %v\n%s", msg, err, stderr.Bytes())
	}
	t.Logf("scripts/fetch-cosign built cosign in %v", time.Since(start).Round(time.Second))
	return strings.TrimSpace(string(out))
}
