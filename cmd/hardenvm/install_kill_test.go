package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hardenvm/hardenvm/internal/buildtest"
	"github.com/hardenvm/hardenvm/pkg/config"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/verify"
)

// TestConfigInstallKilled kills `hardenvm config install` (SIGKILL) and
// interrupts it (SIGINT) at several of its steps: each time the image
// directory stays byte-identical and verifies, an interrupted install exits
// 1 with one line, and a later install succeeds.
func TestConfigInstallKilled(t *testing.T) {
	img := buildtest.Minimal(t)
	cfg, err := config.Build(context.Background(), config.Options{
		Settings: []byte(`{"configurationFileVersion":2,"registryAllowList":{"value":["registry.internal:5000"],"locked":true}}`),
		Epoch:    buildtest.Epoch})
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Sign(context.Background(), img.Keys.Get(keys.Admin)); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "config.img")
	if err := cfg.Write(cfgPath); err != nil {
		t.Fatal(err)
	}
	args := []string{"config", "install", img.Dir, cfgPath, "--keys", img.KeyDir}

	for _, tt := range []struct {
		sig  syscall.Signal
		step string
	}{
		{syscall.SIGKILL, "checked"}, {syscall.SIGKILL, "disk"}, {syscall.SIGKILL, "manifest"},
		{syscall.SIGKILL, "signed"}, {syscall.SIGKILL, "verified"},
		{syscall.SIGINT, "copied"}, {syscall.SIGINT, "disk"}, {syscall.SIGINT, "verified"},
	} {
		t.Run(fmt.Sprintf("%v at %s", tt.sig, tt.step), func(t *testing.T) {
			was := buildtest.Digests(t, img.Dir)
			c := childCLI(t, tt.step, args...)
			err := c.stop(t, tt.sig)
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("the child exited with %v after %v, want a failure: %s", err, tt.sig, c.output())
			}
			if tt.sig == syscall.SIGINT {
				out := c.output()
				if ee.ExitCode() != exitFailure || !strings.Contains(out, "interrupted") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
					t.Errorf("after SIGINT: exit %d, output %q; want exit 1 and one line saying it was interrupted", ee.ExitCode(), out)
				}
			}
			if diff := cmp.Diff(was, buildtest.Digests(t, img.Dir)); diff != "" {
				t.Errorf("the image directory changed (-before +after):\n%s", diff)
			}
			rep, err := verify.Dir(context.Background(), img.Dir, verify.Options{PublicKey: img.Keys.Get(keys.Signing).Public()})
			if err == nil {
				err = rep.Err()
			}
			if err != nil {
				t.Errorf("the image directory no longer verifies: %v", err)
			}
		})
	}
	if code, out, e := hv(t, args...); code != 0 {
		t.Fatalf("config install after the kills: exit %d: %s%s", code, out, e)
	}
	// The staging directories of the killed installs went with it.
	if ents, _ := os.ReadDir(filepath.Dir(img.Dir)); len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("beside the image directory after a later install: %v, want only %s", names, filepath.Base(img.Dir))
	}
	if code, out, e := hv(t, "measure", img.Dir); code != 0 || !strings.Contains(out, "manifest.json agrees") {
		t.Errorf("measure after config install: exit %d: %s%s", code, out, e)
	}
}
