package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/hardenvm/hardenvm/internal/imagetest"
	"github.com/hardenvm/hardenvm/internal/version"
	"github.com/hardenvm/hardenvm/pkg/keys"
)

// hv runs the CLI in-process and returns its exit code and output.
func hv(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageAndErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string // in stderr
	}{
		{[]string{"bogus"}, exitUsage, "unknown command"},
		{[]string{"--log-level", "loud", "version"}, exitUsage, "--log-level"},
		{[]string{"version", "extra"}, exitUsage, "want 0 argument"},
		{[]string{"keys", "show", "--keys", "/nonexistent/keys"}, exitFailure, "pk.key is missing"},
		{[]string{"keys", "init", "--nope"}, exitUsage, "unknown flag"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := hv(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.want)
			}
			if n := strings.Count(strings.TrimRight(stderr, "\n"), "\n"); n != 0 {
				t.Errorf("error is %d lines, want one: %q", n+1, stderr)
			}
		})
	}
}

// TestHelpHasExamples walks every command: each help page shows an example.
func TestHelpHasExamples(t *testing.T) {
	a := &app{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	root := newRoot(a)
	var check func(cmd *cobra.Command)
	check = func(cmd *cobra.Command) {
		if cmd.Hidden || cmd.Name() == "help" || cmd.Name() == "completion" {
			return
		}
		if !cmd.HasExample() {
			t.Errorf("%q has no example in its help", cmd.CommandPath())
		}
		for _, c := range cmd.Commands() {
			check(c)
		}
	}
	check(root)

	code, out, _ := hv(t, "keys", "init", "--help")
	if code != 0 || !strings.Contains(out, "Examples:") {
		t.Errorf("keys init --help: exit %d, output %q", code, out)
	}
}

func TestVersionJSON(t *testing.T) {
	code, out, stderr := hv(t, "version", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var v version.Info
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Module == "" || v.Version == "" {
		t.Fatalf("version --json = %q (%v)", out, err)
	}
}

// TestVersion checks that `version` and `--version` agree and carry the
// stamped version and commit.
func TestVersion(t *testing.T) {
	version.Version, version.Commit = "v9.9.9-test", "0123456789abcdef"
	t.Cleanup(func() { version.Version, version.Commit = "", "" })
	want := version.Get()
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, stderr := hv(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
		if !strings.HasPrefix(out, "hardenvm "+want.String()) {
			t.Errorf("%v = %q, want it to start with %q", args, out, "hardenvm "+want.String())
		}
	}
}

func TestKeysInitTwice(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	code, out, stderr := hv(t, "keys", "init", "--keys", dir)
	if code != 0 {
		t.Fatalf("keys init: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "RSA-2048") || !strings.Contains(out, "ECDSA-P-256") {
		t.Errorf("keys init output lacks algorithms:\n%s", out)
	}
	first := readAll(t, dir)

	code, _, stderr = hv(t, "keys", "init", "--keys", dir)
	if code != exitFailure || !strings.Contains(stderr, "--force") {
		t.Fatalf("second keys init: exit %d, stderr %q; want failure naming --force", code, stderr)
	}
	if got := readAll(t, dir); !equalMaps(got, first) {
		t.Fatal("refused keys init changed the key files")
	}

	code, out, stderr = hv(t, "keys", "show", "--keys", dir, "--json")
	if code != 0 {
		t.Fatalf("keys show: exit %d: %s", code, stderr)
	}
	var shown struct {
		Keys []keys.KeyView `json:"keys"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil || len(shown.Keys) != 5 {
		t.Fatalf("keys show --json = %q (%v)", out, err)
	}

	code, _, stderr = hv(t, "keys", "init", "--keys", dir, "--force")
	if code != 0 {
		t.Fatalf("keys init --force: exit %d: %s", code, stderr)
	}
	if got := readAll(t, dir); equalMaps(got, first) {
		t.Fatal("keys init --force did not replace the keys")
	}

	os.WriteFile(filepath.Join(dir, "admin.key"), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)
	code, _, stderr = hv(t, "keys", "show", "--keys", dir)
	if code != exitFailure || !strings.Contains(stderr, "admin.key") {
		t.Errorf("keys show on a corrupted key: exit %d, stderr %q", code, stderr)
	}
}

func TestKeysInitUnwritable(t *testing.T) {
	// Root writes anywhere, so make the directory impossible: a path
	// below a regular file.
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	code, _, stderr := hv(t, "keys", "init", "--keys", filepath.Join(f, "keys"))
	if code != exitFailure || !strings.Contains(stderr, "writable --keys directory") {
		t.Errorf("keys init into a file's path: exit %d, stderr %q", code, stderr)
	}
}

func readAll(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		m[e.Name()] = string(b)
	}
	return m
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestRunFlagsBeforeAnything: run refuses bad flags before it creates its
// state directory or data disk.
func TestRunFlagsBeforeAnything(t *testing.T) {
	im := imagetest.New(t, imagetest.Options{Config: true})
	for _, args := range [][]string{
		{"--network", "bridged"},
		{"--data-size", "lots"},
		{"--network", "none", "--forward", "8080:80"},
		{"--expect", "("},
	} {
		state := filepath.Join(t.TempDir(), "state")
		code, _, stderr := runCLI(t, append([]string{"run", im.Dir, "--keys", im.KeyDir, "--state", state}, args...)...)
		if code != exitUsage || strings.Count(stderr, "\n") != 1 {
			t.Errorf("run %v: exit %d, %q; want a one-line usage error", args, code, stderr)
		}
		if _, err := os.Stat(state); err == nil {
			t.Errorf("run %v created %s before refusing its flags", args, state)
		}
	}
}
