package main

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hardenvm/hardenvm/internal/buildtest"
	"github.com/hardenvm/hardenvm/pkg/configimage"
	"github.com/hardenvm/hardenvm/pkg/keys"
)

// TestConfigInstallKilled kills `hardenvm config install` (SIGKILL) and
// interrupts it (SIGINT) at several of its steps: each time the image
// directory stays byte-identical and verifies, an interrupted install exits
// 1 with one line, and a later install succeeds.
func TestConfigInstallKilled(t *testing.T) {
	img := buildtest.Minimal(t)
	cfg, err := configimage.Build(context.Background(), configimage.Options{
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

	killAndCheck(t, img, args, []killCase{
		{syscall.SIGKILL, "checked"}, {syscall.SIGKILL, "disk"}, {syscall.SIGKILL, "manifest"},
		{syscall.SIGKILL, "signed"}, {syscall.SIGKILL, "verified"},
		{syscall.SIGINT, "copied"}, {syscall.SIGINT, "disk"}, {syscall.SIGINT, "verified"},
	})
	if code, out, e := hv(t, "measure", img.Dir); code != 0 || !strings.Contains(out, "manifest.json agrees") {
		t.Errorf("measure after config install: exit %d: %s%s", code, out, e)
	}
}
