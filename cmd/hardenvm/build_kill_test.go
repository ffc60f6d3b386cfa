package main

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hardenvm/hardenvm/internal/buildtest"
)

// TestBuildKilled kills `hardenvm build -o DIR` (SIGKILL) and interrupts
// it (SIGINT) at several steps over a previous output: each time DIR stays
// byte-identical and verifies, an interrupted build exits 1 with one line,
// and the next build leaves nothing beside DIR.
func TestBuildKilled(t *testing.T) {
	img := buildtest.Minimal(t)
	spec, err := filepath.Abs("../../images/minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"build", spec, "-o", img.Dir, "--keys", img.KeyDir, "--init", "/bin/busybox", "--agent", "/bin/busybox",
		"--epoch", fmt.Sprint(buildtest.Epoch.Unix() + 1)}
	killAndCheck(t, img, args, []killCase{
		{syscall.SIGKILL, "unpacking the root"}, {syscall.SIGKILL, "dm-verity"}, {syscall.SIGKILL, "GPT disk"},
		{syscall.SIGKILL, "signing the manifest"}, {syscall.SIGINT, "fetching"}, {syscall.SIGINT, "GPT disk"},
	})
}
