package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/imagetest"
	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/attest"
	"github.com/hardenvm/hardenvm/pkg/efivars"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/manifest"
)

// enrolledImage is an image with a real variable store, which measure
// needs: imagetest's is a placeholder, so the keys are enrolled into
// Debian's template, as the build does.
func enrolledImage(t *testing.T) *imagetest.Image {
	testenv.File(t, efivars.DefaultTemplate, "ovmf")
	im := imagetest.New(t, imagetest.Options{})
	e, err := efivars.KeySetEnrollment(im.Keys, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := efivars.EnrollFile(efivars.DefaultTemplate, filepath.Join(im.Dir, imagedir.Vars), e); err != nil {
		t.Fatal(err)
	}
	if im.Manifest.Artifacts[imagedir.Vars], err = manifest.HashFile(filepath.Join(im.Dir, imagedir.Vars)); err != nil {
		t.Fatal(err)
	}
	im.Resign(t)
	return im
}

func TestMeasureCommand(t *testing.T) {
	im := enrolledImage(t)
	code, stdout, stderr := hv(t, "measure", im.Dir, "--events")
	if code != exitOK {
		t.Fatalf("measure: exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{"PCR  4", "PCR  5", "PCR  7", "PCR  9", "PCR 11", "PCR 15", "EV_EFI_BOOT_SERVICES_APPLICATION", "has no prediction"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("measure output lacks %q:\n%s", want, stdout)
		}
	}
	code, stdout, _ = hv(t, "measure", im.Dir, "--json")
	var p manifest.PCRs
	if code != exitOK || json.Unmarshal([]byte(stdout), &p) != nil || len(p.Values) != 6 {
		t.Fatalf("measure --json: exit %d, %q", code, stdout)
	}

	// A manifest whose prediction the artifacts do not give.
	m, err := imagedir.Load(im.Dir)
	if err != nil {
		t.Fatal(err)
	}
	p.Values["7"] = strings.Repeat("0", 64)
	m.PCRs = &p
	if err := imagedir.WriteManifest(im.Dir, m); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = hv(t, "measure", im.Dir)
	if code != exitFailure || !strings.Contains(stderr, "PCR 7") {
		t.Errorf("measure with a changed prediction: exit %d, %q", code, stderr)
	}
	assertOneLine(t, stderr)
}

// TestMeasureDamaged: measure refuses, with one line, an image that
// verify would refuse for its files.
func TestMeasureDamaged(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string
	}{
		{"truncated disk.raw", func(t *testing.T, dir string) {
			p := filepath.Join(dir, imagedir.Disk)
			st, _ := os.Stat(p)
			os.Truncate(p, st.Size()-4096)
		}, "disk.raw"},
		{"missing bundle", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "manifest.sigstore.json")) }, "not signed"},
		{"changed uki.efi", func(t *testing.T, dir string) { imagetest.FlipByte(t, filepath.Join(dir, imagedir.UKI), 1000) }, "uki.efi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im := imagetest.New(t, imagetest.Options{})
			tt.damage(t, im.Dir)
			code, _, stderr := hv(t, "measure", im.Dir)
			if code != exitFailure || !strings.Contains(stderr, tt.want) || !strings.Contains(stderr, "hardenvm verify") {
				t.Errorf("measure: exit %d, stderr %q; want exit 1 naming %q and pointing to verify", code, stderr, tt.want)
			}
			assertOneLine(t, stderr)
		})
	}
}

func TestAttestCommandErrors(t *testing.T) {
	im := imagetest.New(t, imagetest.Options{})
	dir := t.TempDir()
	garbage := filepath.Join(dir, "evidence.json")
	os.WriteFile(garbage, []byte(`{"nonce":"AAEC","evidence":{"quote":"not base64!"}}`), 0o644)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"attest", im.Dir}, exitUsage, "exactly one of --vm"},
		{[]string{"attest", im.Dir, "--vm", "x", "--quote", "y"}, exitUsage, "exactly one of --vm"},
		{[]string{"attest", im.Dir, "--quote", garbage}, exitUsage, "--quote needs --nonce"},
		{[]string{"attest", im.Dir, "--quote", garbage, "--nonce", "zz"}, exitUsage, "not hex"},
		{[]string{"attest", im.Dir, "--quote", garbage, "--nonce", "0102"}, exitFailure, "not saved evidence"},
		{[]string{"attest", im.Dir, "--vm", filepath.Join(dir, "no.sock")}, exitFailure, "agent channel"},
	}
	for _, tt := range tests {
		code, _, stderr := hv(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d mentioning %q", tt.args, code, stderr, tt.code, tt.want)
		}
		assertOneLine(t, stderr)
	}
}

// TestAttestNoAgent: --vm on a socket where nobody answers fails within
// the ping bound, with one line saying so.
func TestAttestNoAgent(t *testing.T) {
	im := imagetest.New(t, imagetest.Options{})
	old := attest.PingTimeout
	attest.PingTimeout = time.Second
	t.Cleanup(func() { attest.PingTimeout = old })
	sock := testenv.Silent(t, "unix", filepath.Join(t.TempDir(), "chan.sock"))
	done := make(chan struct{})
	var code int
	var stderr string
	go func() {
		code, _, stderr = hv(t, "attest", im.Dir, "--vm", sock)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("attest --vm on a silent socket still waits after 20s")
	}
	if code != exitFailure || !strings.Contains(stderr, "no agent answered on "+sock+" within 1s (does the image run hardenvm-agent?)") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	assertOneLine(t, stderr)
}
