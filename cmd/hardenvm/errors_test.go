package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/hardenvm/hardenvm/internal/imagetest"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
)

// TestOnePrefix: every command's usage errors carry one "hardenvm: "
// prefix, not "hardenvm: hardenvm build: …" (issue 13 item 17).
func TestOnePrefix(t *testing.T) {
	root := newRoot(&app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() || c == root {
			return
		}
		// Too many arguments: every command refuses them.
		a := append(strings.Fields(cmdName(c)), "a1", "a2", "a3", "a4")
		code, _, stderr := hv(t, a...)
		if code != exitUsage {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", a, code, stderr)
		}
		if strings.Contains(stderr, "hardenvm: hardenvm") || !strings.HasPrefix(stderr, "hardenvm: ") {
			t.Errorf("%q: stderr %q, want one hardenvm: prefix", a, stderr)
		}
		assertOneLine(t, stderr)
	}
	walk(root)
}

// TestNotAnImageDirectory: measure, verify, inspect, attest and run say the
// same sentence for a directory that is not an image directory.
func TestNotAnImageDirectory(t *testing.T) {
	im := imagetest.New(t, imagetest.Options{})
	for _, dir := range []string{t.TempDir(), filepath.Join(t.TempDir(), "missing")} {
		var first string
		for _, a := range [][]string{
			{"measure", dir}, {"verify", dir}, {"inspect", dir}, {"attest", dir, "--vm", "x.sock"}, {"run", dir},
			{"verify", dir, "--keys", im.KeyDir},
		} {
			code, _, stderr := hv(t, a...)
			if code != exitFailure || !strings.HasPrefix(stderr, "hardenvm: "+dir+" is not an image directory (") {
				t.Errorf("%q: exit %d, stderr %q", a, code, stderr)
			}
			assertOneLine(t, stderr)
			if first == "" {
				first = stderr
			} else if stderr != first {
				t.Errorf("%q: %q, but %q for measure", a, stderr, first)
			}
		}
	}
}

// TestKeyFlagMixup: a certificate or private key given to --key is named
// for what it is and the flag it belongs to, not sigstore's parser text.
func TestKeyFlagMixup(t *testing.T) {
	im := imagetest.New(t, imagetest.Options{})
	tests := []struct {
		flag, file string
		want       string
	}{
		{"--key", "db.crt", "is the Secure Boot db certificate"},
		{"--key", "db.crt", "it belongs to --db-cert"},
		{"--key", "admin.crt", "config verify --cert"},
		{"--key", "kek.crt", "Secure Boot KEK certificate"},
		{"--key", "signing.key", "is a private key"},
		{"--db-cert", "signing.pub", "it belongs to --key"},
	}
	for _, tt := range tests {
		a := []string{"verify", im.Dir, tt.flag, filepath.Join(im.KeyDir, tt.file)}
		if tt.flag == "--db-cert" {
			a = append(a, "--key", filepath.Join(im.KeyDir, "signing.pub"))
		}
		code, _, stderr := hv(t, a...)
		if code != exitFailure || !strings.Contains(stderr, tt.want) || strings.Contains(stderr, "Are you passing") {
			t.Errorf("%q: exit %d, stderr %q; want %q", a, code, stderr, tt.want)
		}
		assertOneLine(t, stderr)
	}
}

// TestShortDisk: a disk.raw too short for its GPT is named, with what to
// do, instead of "attest: GPT header: EOF".
func TestShortDisk(t *testing.T) {
	im := imagetest.New(t, imagetest.Options{})
	disk := filepath.Join(im.Dir, imagedir.Disk)
	if err := os.Truncate(disk, 300); err != nil {
		t.Fatal(err)
	}
	// measure checks the artifacts first and points to verify.
	code, _, stderr := hv(t, "measure", im.Dir)
	if code != exitFailure || !strings.Contains(stderr, "disk.raw") || !strings.Contains(stderr, "hardenvm verify") {
		t.Errorf("measure: exit %d, stderr %q", code, stderr)
	}
	assertOneLine(t, stderr)
}

// TestRenamedFlags: one name for one thing (--keys for the key set,
// --output for what a command writes); the old spellings still work,
// hidden from the help, with a note.
func TestRenamedFlags(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	code, _, stderr := hv(t, "keys", "init", "--dir", dir)
	if code != exitOK || !strings.Contains(stderr, "--dir is now --keys") {
		t.Fatalf("keys init --dir: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "signing.pub")); err != nil {
		t.Errorf("keys init --dir wrote nowhere: %v", err)
	}
	settings := filepath.Join(t.TempDir(), "s.json")
	os.WriteFile(settings, []byte(`{"configurationFileVersion":2}`), 0o644)
	img := filepath.Join(t.TempDir(), "config.img")
	code, stdout, stderr := hv(t, "config", "build", settings, "--out", img)
	if code != exitOK || !strings.Contains(stderr, "--out is now --output") || strings.Contains(stdout, "deprecated") {
		t.Errorf("config build --out: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, err := os.Stat(img); err != nil {
		t.Errorf("config build --out wrote nowhere: %v", err)
	}
	for _, a := range [][]string{{"keys", "show", "--help"}, {"build", "--help"}, {"config", "build", "--help"}} {
		_, out, _ := hv(t, a...)
		if strings.Contains(out, "--dir") || strings.Contains(out, "--out ") {
			t.Errorf("%q shows a former flag name:\n%s", a, out)
		}
	}
	for _, a := range [][]string{{"build", "--help"}, {"config", "build", "--help"}, {"efivars", "enroll", "--help"}} {
		if _, out, _ := hv(t, a...); !strings.Contains(out, "-o, --output") {
			t.Errorf("%q has no -o, --output", a)
		}
	}
	for _, a := range [][]string{{"keys", "show", "--help"}, {"build", "--help"}, {"verify", "--help"}, {"config", "sign", "--help"}, {"efivars", "enroll", "--help"}} {
		if _, out, _ := hv(t, a...); !strings.Contains(out, "--keys") {
			t.Errorf("%q has no --keys", a)
		}
	}
}
