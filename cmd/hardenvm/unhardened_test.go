package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/internal/imagetest"
)

// TestUnhardenedRefused: an image whose signed manifest says it was built
// with --unhardened-for-benchmarks never verifies, attests or ships, each
// refusal one line naming it; run boots it only with
// --insecure-skip-verify, with a warning; build's --help keeps the flag
// out of sight.
func TestUnhardenedRefused(t *testing.T) {
	im := imagetest.New(t, imagetest.Options{Unhardened: true, Seed: 7})
	noFirmware := filepath.Join(t.TempDir(), "no-OVMF_CODE.fd")
	state := func() string { return filepath.Join(t.TempDir(), "state") }
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"verify", []string{"verify", im.Dir, "--keys", im.KeyDir}, "unhardened benchmark image"},
		{"attest", []string{"attest", im.Dir, "--vm", filepath.Join(t.TempDir(), "agent.sock")}, "attest: " + im.Dir + ": an unhardened benchmark image"},
		{"push", []string{"push", im.Dir, "127.0.0.1:1/hardenvm/unhardened:1", "--keys", im.KeyDir}, "refusing to publish"},
		{"run verified", []string{"run", im.Dir, "--keys", im.KeyDir, "--accel", "tcg", "--timeout", "5s", "--no-stdin", "--state", state()}, "run: refusing to boot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := hv(t, tt.args...)
			if code != exitFailure || !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "unhardened") {
				t.Errorf("%q: exit %d, stderr %q; want exit 1 with %q", tt.args, code, stderr, tt.want)
			}
			assertOneLine(t, stderr)
		})
	}

	code, _, stderr := hv(t, "run", im.Dir, "--insecure-skip-verify", "--firmware", noFirmware, "--accel", "tcg", "--timeout", "5s", "--no-stdin", "--state", state())
	if !strings.Contains(stderr, "WARNING: "+im.Dir+" is an UNHARDENED benchmark image") {
		t.Errorf("run --insecure-skip-verify: exit %d, stderr %q; want the unhardened warning", code, stderr)
	}

	_, stdout, _ := hv(t, "build", "--help")
	if strings.Contains(stdout, "unhardened") {
		t.Errorf("build --help shows the benchmark-only flag:\n%s", stdout)
	}
}
