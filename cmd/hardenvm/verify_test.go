package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/internal/imagetest"
	"github.com/hardenvm/hardenvm/pkg/checklist"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/keys"
)

func assertOneLine(t *testing.T, stderr string) {
	t.Helper()
	if n := strings.Count(strings.TrimRight(stderr, "\n"), "\n"); n != 0 {
		t.Errorf("error is %d lines, want one: %q", n+1, stderr)
	}
}

func TestVerifyCommand(t *testing.T) {
	im := imagetest.New(t, imagetest.Options{})
	pub := filepath.Join(im.KeyDir, "signing.pub")
	dbcrt := filepath.Join(im.KeyDir, "db.crt")
	code, stdout, _ := hv(t, "verify", "--json", im.Dir, "--keys", im.KeyDir)
	var r checklist.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != exitOK || !r.OK || len(r.Checks) < 7 {
		t.Fatalf("--json: exit %d, %v, report %+v", code, err, r)
	}
	for _, args := range [][]string{
		{"verify", im.Dir, "--keys", im.KeyDir},
		{"verify", im.Dir, "--key", pub},
		{"verify", im.Dir, "--key", pub, "--db-cert", dbcrt},
	} {
		code, stdout, stderr := hv(t, args...)
		if code != exitOK {
			t.Fatalf("%q: exit %d, stderr %q, stdout %q", args, code, stderr, stdout)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if len(lines) != len(r.Checks)+1 || !strings.HasPrefix(lines[len(lines)-1], "verified ") {
			t.Errorf("%q: stdout %q, want %d checks and 'verified'", args, stdout, len(r.Checks))
		}
		for _, l := range lines[:len(lines)-1] {
			if !strings.HasPrefix(l, "ok ") && !strings.HasPrefix(l, "skip ") {
				t.Errorf("%q: line %q is neither ok nor skip", args, l)
			}
		}
	}

	// Without a key anywhere: a usage error.
	t.Chdir(t.TempDir())
	code, _, stderr := hv(t, "verify", im.Dir)
	if code != exitUsage || !strings.Contains(stderr, "--key PUB") {
		t.Errorf("no key: exit %d, stderr %q", code, stderr)
	}
	// ./keys is the default key set.
	if err := os.Symlink(im.KeyDir, "keys"); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := hv(t, "verify", im.Dir); code != exitOK {
		t.Errorf("with ./keys: exit %d, stderr %q", code, stderr)
	}
	// Another publisher's key.
	other := imagetest.OtherKeys(t)
	otherDir := filepath.Join(t.TempDir(), "other")
	if err := keys.Write(otherDir, other, false); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = hv(t, "verify", im.Dir, "--keys", otherDir)
	if code != exitFailure || !strings.Contains(stderr, "manifest.sigstore.json failed verification") {
		t.Errorf("other key: exit %d, stderr %q", code, stderr)
	}
	assertOneLine(t, stderr)
	code, _, stderr = hv(t, "verify", im.Dir, "--key", pub, "--db-cert", filepath.Join(otherDir, "db.crt"))
	if code != exitFailure || !strings.Contains(stderr, "manifest.json failed verification") {
		t.Errorf("other db cert: exit %d, stderr %q", code, stderr)
	}
	// Unsigned: the bundle is missing.
	unsigned := imagetest.New(t, imagetest.Options{Seed: 3})
	os.Remove(filepath.Join(unsigned.Dir, imagedir.Bundle))
	code, stdout, stderr = hv(t, "verify", unsigned.Dir, "--keys", unsigned.KeyDir)
	if code != exitFailure || !strings.Contains(stderr, imagedir.Bundle+" failed verification") || !strings.Contains(stdout, "the image is not signed") {
		t.Errorf("unsigned: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, _, stderr = hv(t, "verify", filepath.Join(im.Dir, "nope"), "--key", pub)
	if code != exitFailure || !strings.Contains(stderr, "not an image directory") {
		t.Errorf("missing dir: exit %d, stderr %q", code, stderr)
	}
}

// TestTamperedImageRefused: one byte changed in any file of the image makes
// verify fail naming that file, and run refuse to boot it, before it
// starts anything.
func TestTamperedImageRefused(t *testing.T) {
	for i, name := range imagetest.Files {
		t.Run(name, func(t *testing.T) {
			im := imagetest.New(t, imagetest.Options{Seed: uint64(i)})
			p := filepath.Join(im.Dir, name)
			off := int64(-1)
			switch name {
			case imagedir.Manifest, imagedir.Bundle:
				// a byte inside a value, so the JSON stays well-formed
				b, _ := os.ReadFile(p)
				key := `"name": "`
				if name == imagedir.Bundle {
					key = `"signature": "`
				}
				off = int64(strings.Index(string(b), key) + len(key) + 2)
			case "disk.raw":
				off = 2 << 20 // in the ESP
			}
			imagetest.FlipByte(t, p, off)

			code, stdout, stderr := hv(t, "verify", im.Dir, "--keys", im.KeyDir)
			if code != exitFailure {
				t.Fatalf("verify: exit %d, want 1; stdout %q", code, stdout)
			}
			if !strings.Contains(stderr, ": "+name+" failed verification") {
				t.Errorf("verify: stderr %q does not name %s alone", stderr, name)
			}
			if !strings.Contains(stdout, "FAIL") {
				t.Errorf("verify: stdout has no FAIL line: %q", stdout)
			}
			assertOneLine(t, stderr)

			code, _, stderr = hv(t, "run", im.Dir, "--keys", im.KeyDir, "--accel", "tcg", "--timeout", "5s", "--no-stdin",
				"--state", filepath.Join(t.TempDir(), "state"))
			if code != exitFailure || !strings.Contains(stderr, "run: refusing to boot") || !strings.Contains(stderr, name) {
				t.Errorf("run: exit %d, stderr %q; want a refusal naming %s", code, stderr, name)
			}
			assertOneLine(t, stderr)
		})
	}
}

func TestRunInsecureSkipVerify(t *testing.T) {
	noFirmware := filepath.Join(t.TempDir(), "no-OVMF_CODE.fd")
	runArgs := func(dir string, extra ...string) []string {
		return append([]string{"run", dir, "--accel", "tcg", "--timeout", "5s", "--no-stdin",
			"--firmware", noFirmware, "--state", filepath.Join(t.TempDir(), "state")}, extra...)
	}

	// A good image passes verification and gets as far as the VM (which
	// then fails for want of firmware).
	good := imagetest.New(t, imagetest.Options{})
	code, _, stderr := hv(t, runArgs(good.Dir, "--keys", good.KeyDir)...)
	if code != exitFailure || strings.Contains(stderr, "verif") || strings.Contains(stderr, "WARNING") {
		t.Errorf("verified image: exit %d, stderr %q; want a VM start failure", code, stderr)
	}

	// Unlocked and tampered: boots with a loud warning.
	im := imagetest.New(t, imagetest.Options{Seed: 1})
	imagetest.FlipByte(t, filepath.Join(im.Dir, "uki.efi"), 4000)
	code, _, stderr = hv(t, runArgs(im.Dir, "--insecure-skip-verify")...)
	if !strings.Contains(stderr, "WARNING: --insecure-skip-verify") || strings.Contains(stderr, "refusing") {
		t.Errorf("unlocked: exit %d, stderr %q; want the warning and a boot attempt", code, stderr)
	}

	// Locked: refused, even untampered.
	locked := imagetest.New(t, imagetest.Options{Locked: true, Seed: 2})
	code, _, stderr = hv(t, runArgs(locked.Dir, "--insecure-skip-verify")...)
	if code != exitFailure || !strings.Contains(stderr, "locked image") || strings.Contains(stderr, "WARNING") {
		t.Errorf("locked: exit %d, stderr %q; want a refusal", code, stderr)
	}
	assertOneLine(t, stderr)
	// ...and boots (as far as the firmware) when verified.
	code, _, stderr = hv(t, runArgs(locked.Dir, "--keys", locked.KeyDir)...)
	if strings.Contains(stderr, "verif") || strings.Contains(stderr, "locked") {
		t.Errorf("locked, verified: exit %d, stderr %q", code, stderr)
	}

	// No key at all: refused with a hint.
	t.Chdir(t.TempDir())
	code, _, stderr = hv(t, runArgs(good.Dir)...)
	if code == exitOK || !strings.Contains(stderr, "--insecure-skip-verify to boot it unverified") {
		t.Errorf("no key: exit %d, stderr %q", code, stderr)
	}
}
