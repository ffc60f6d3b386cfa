package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/internal/imagetest"
	"github.com/hardenvm/hardenvm/internal/registrytest"
)

func TestPushPullCommands(t *testing.T) {
	reg := registrytest.Start(t, "ci", "pw")
	registrytest.DockerConfig(t, reg.Addr, "ci", "pw")
	im := imagetest.New(t, imagetest.Options{})
	ref := reg.Addr + "/hardenvm/cli:v1"

	code, stdout, stderr := hv(t, "push", im.Dir, ref, "--keys", im.KeyDir)
	if code != exitOK || !strings.HasPrefix(stdout, "pushed "+ref+" (sha256:") {
		t.Fatalf("push: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	dst := filepath.Join(t.TempDir(), "vm")
	code, stdout, stderr = hv(t, "pull", ref, dst, "--key", filepath.Join(im.KeyDir, "signing.pub"))
	if code != exitOK || !strings.Contains(stdout, "pulled "+ref) || !strings.Contains(stdout, "ok    authenticode") {
		t.Fatalf("pull: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	for _, f := range imagetest.Files {
		if a, b := imagetest.SHA256(t, filepath.Join(im.Dir, f)), imagetest.SHA256(t, filepath.Join(dst, f)); a != b {
			t.Errorf("%s: pulled %s, pushed %s", f, b, a)
		}
	}
	// The pulled image boots as far as verification goes.
	if code, _, stderr := hv(t, "verify", dst, "--keys", im.KeyDir); code != exitOK {
		t.Errorf("verify of the pulled image: %s", stderr)
	}
	code, stdout, _ = hv(t, "pull", "--json", ref, filepath.Join(t.TempDir(), "vm"), "--keys", im.KeyDir)
	var res struct {
		Digest string
		Verify struct{ OK bool }
	}
	if err := json.Unmarshal([]byte(stdout), &res); code != exitOK || err != nil || !res.Verify.OK || res.Digest == "" {
		t.Errorf("pull --json: exit %d, %v, %q", code, err, stdout)
	}

	// Errors: one line each, exit 1, nothing written.
	parent := t.TempDir()
	tests := []struct {
		name string
		args []string
		env  [2]string // user, password
		want string
	}{
		{"wrong password", []string{"pull", ref, filepath.Join(parent, "a"), "--keys", im.KeyDir}, [2]string{"ci", "nope"}, "refused our credentials"},
		{"unknown tag", []string{"pull", reg.Addr + "/hardenvm/cli:v9", filepath.Join(parent, "b"), "--keys", im.KeyDir}, [2]string{"ci", "pw"}, "not found in the registry"},
		{"server down", []string{"pull", "127.0.0.1:1/hardenvm/cli:v1", filepath.Join(parent, "c"), "--keys", im.KeyDir}, [2]string{"ci", "pw"}, "cannot reach the registry"},
		{"tampered source", []string{"push", "TAMPERED", ref, "--keys", im.KeyDir}, [2]string{"ci", "pw"}, "refusing to publish"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			registrytest.DockerConfig(t, reg.Addr, tt.env[0], tt.env[1])
			args := tt.args
			if args[1] == "TAMPERED" {
				bad := imagetest.New(t, imagetest.Options{Seed: 9})
				imagetest.FlipByte(t, filepath.Join(bad.Dir, "uki.efi"), 100)
				args = append([]string{"push", bad.Dir}, args[2:]...)
			}
			code, _, stderr := hv(t, args...)
			if code != exitFailure || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr, tt.want)
			}
			assertOneLine(t, stderr)
		})
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 0 {
		t.Errorf("failed pulls left %d entries in %s", len(ents), parent)
	}
}
