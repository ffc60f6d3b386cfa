package sign

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/cosigntest"
	"github.com/hardenvm/hardenvm/pkg/keys"
)

// TestCosignVerifyBlob: cosign, an independent sigstore verifier, accepts
// our bundle for a manifest with the artifact-signing public key as
// `hardenvm keys init` writes it, offline, and rejects it once a byte of
// the manifest or the bundle changed, or for another key.
func TestCosignVerifyBlob(t *testing.T) {
	bin := cosigntest.Binary(t)
	set, err := keys.Generate(keys.Options{Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	other, err := keys.Generate(keys.Options{Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	keyDir, otherDir := t.TempDir(), t.TempDir()
	if err := keys.Write(keyDir, set, true); err != nil {
		t.Fatal(err)
	}
	if err := keys.Write(otherDir, other, true); err != nil {
		t.Fatal(err)
	}
	dir := signedDir(t, set.Get(keys.Signing).Signer)
	home := t.TempDir()

	verifyBlob := func(t *testing.T, pub, dir string) (bool, string) {
		t.Helper()
		return cosigntest.Verify(t, bin, home, "verify-blob", "--key", pub,
			"--bundle", filepath.Join(dir, bundleFile), "--insecure-ignore-tlog=true",
			filepath.Join(dir, manifestFile))
	}

	pub := filepath.Join(keyDir, "signing.pub")
	if ok, out := verifyBlob(t, pub, dir); !ok {
		t.Fatalf("cosign verify-blob rejected our bundle:\n%s", out)
	}

	copyDir := func(t *testing.T) string {
		d := t.TempDir()
		for _, n := range []string{manifestFile, bundleFile} {
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(d, n), b, 0o644)
		}
		return d
	}
	flipIn := func(t *testing.T, path, after string) {
		b, _ := os.ReadFile(path)
		i := strings.Index(string(b), after)
		if i < 0 {
			t.Fatalf("%q not in %s", after, path)
		}
		i += len(after) + 3
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		os.WriteFile(path, b, 0o644)
	}
	tests := []struct {
		name   string
		pub    string
		tamper func(t *testing.T, d string)
	}{
		{"manifest byte changed", pub, func(t *testing.T, d string) { flipIn(t, filepath.Join(d, manifestFile), `"name": "`) }},
		{"bundle signature byte changed", pub, func(t *testing.T, d string) { flipIn(t, filepath.Join(d, bundleFile), `"signature": "`) }},
		{"bundle digest byte changed", pub, func(t *testing.T, d string) { flipIn(t, filepath.Join(d, bundleFile), `"digest": "`) }},
		{"other key", filepath.Join(otherDir, "signing.pub"), func(*testing.T, string) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := copyDir(t)
			tt.tamper(t, d)
			if ok, out := verifyBlob(t, tt.pub, d); ok || strings.Contains(out, "Verified OK") || !strings.Contains(out, "Error") {
				t.Errorf("cosign verify-blob did not reject it:\n%s", out)
			}
		})
	}

	// The other way round: a bundle cosign makes with our key (imported
	// into cosign's format, no transparency log) verifies here, and has
	// the same shape as ours.
	t.Run("cosign sign-blob", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		work := t.TempDir()
		env := append(os.Environ(), "HOME="+home, "COSIGN_PASSWORD=test")
		run := func(args ...string) {
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env, cmd.Dir = env, work
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("cosign %s: %v\n%s", args[0], err, out)
			}
		}
		run("import-key-pair", "--key", filepath.Join(keyDir, "signing.key"), "--output-key-prefix", "imported", "-y")
		d := copyDir(t)
		os.Remove(filepath.Join(d, bundleFile))
		run("sign-blob", "--key", "imported.key", "--bundle", filepath.Join(d, bundleFile),
			"--tlog-upload=false", "--use-signing-config=false", "-y", filepath.Join(d, manifestFile))
		if err := verifyDir(d, set.Get(keys.Signing).Public()); err != nil {
			b, _ := os.ReadFile(filepath.Join(d, bundleFile))
			t.Fatalf("verifyDir(cosign's bundle) = %v\n%s", err, b)
		}
		if err := verifyDir(d, other.Get(keys.Signing).Public()); err == nil {
			t.Error("cosign's bundle verified with another key")
		}
	})
}
