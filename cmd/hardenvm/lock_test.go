package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/debarchive"
	"github.com/hardenvm/hardenvm/pkg/debarchive/fakearchive"
	"github.com/hardenvm/hardenvm/pkg/imagespec"
	"github.com/hardenvm/hardenvm/pkg/lockfile"
)

// lockFixture is a fake Debian archive (the mirror, through the
// environment) and a spec t.yml of busybox-static and a kernel to lock
// from it, in dir.
func lockFixture(t *testing.T) (a *fakearchive.Archive, dir, specPath string) {
	a = fakearchive.New(t, "trixie", []fakearchive.Pkg{
		{Name: "busybox-static", Version: "1:1.37.0-6", Depends: "libc6 (>= 2.36)"},
		{Name: "libc6", Version: "2.41-12"},
		{Name: "linux-image-cloud-amd64", Version: "6.12.117-1"},
		{Name: "systemd-boot-efi", Version: "257.13-1"},
	})
	dir = t.TempDir()
	a.WriteKeyring(filepath.Join(dir, "archive.asc"))
	specPath = filepath.Join(dir, "t.yml")
	os.WriteFile(specPath, []byte("name: t\ndebian: {suites: [trixie], keyring: archive.asc}\npackages: [busybox-static]\nkernel: {package: linux-image-cloud-amd64}\n"), 0o644)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv(debarchive.MirrorEnv, a.Mirror())
	return a, dir, specPath
}

func TestLockCommand(t *testing.T) {
	a, dir, specPath := lockFixture(t)

	code, stdout, stderr := hv(t, "lock", specPath)
	if code != exitOK {
		t.Fatalf("lock: exit %d: %s", code, stderr)
	}
	lockPath := filepath.Join(dir, "t.lock.json")
	if !strings.HasPrefix(stdout, lockPath+": written; trixie, 2 packages") {
		t.Errorf("stdout = %q", stdout)
	}
	first, _ := os.ReadFile(lockPath)
	code, stdout, _ = hv(t, "--json", "lock", specPath)
	second, _ := os.ReadFile(lockPath)
	if code != exitOK || string(first) != string(second) {
		t.Errorf("second lock: exit %d, identical %v", code, string(first) == string(second))
	}
	var r struct {
		Written bool
		Lock    imagespec.Lock
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || len(r.Lock.Packages) != 2 || r.Written || r.Lock.Version != imagespec.LockVersion {
		t.Errorf("--json output: %v, %d packages, written %v, lockVersion %d", err, len(r.Lock.Packages), r.Written, r.Lock.Version)
	}

	// --mirror wins over the environment; a bad mirror is one clear line.
	code, _, stderr = hv(t, "lock", "--mirror", "ftp://nowhere.invalid/debian", specPath)
	if code != exitFailure || !strings.Contains(stderr, `mirror "ftp://nowhere.invalid/debian": want an http:// or https:// URL`) {
		t.Errorf("bad --mirror: exit %d, %q", code, stderr)
	}
	// A tampered InRelease: exit 1, the file and digests named, the lock untouched.
	a.Tamper("dists/trixie/InRelease", func(b []byte) []byte { return []byte(strings.Replace(string(b), "amd64", "arm64", 1)) })
	code, _, stderr = hv(t, "lock", specPath)
	if code != exitFailure || !strings.Contains(stderr, "hardenvm: debian/dists/trixie/InRelease (sha256 ") || !strings.Contains(stderr, "the served text's digest is") {
		t.Errorf("tampered InRelease: exit %d, %q", code, stderr)
	}
	if now, _ := os.ReadFile(lockPath); string(now) != string(first) {
		t.Errorf("a failed lock changed the lock file")
	}
	code, _, stderr = hv(t, "lock")
	if code != exitUsage || !strings.Contains(stderr, "want 1 argument(s) (SPEC)") {
		t.Errorf("no argument: exit %d, %q", code, stderr)
	}
}

// TestLockRealMirror locks images/minimal.yml against the Debian mirror of
// this host's apt sources, twice, and fetches its small packages for real.
// When the mirror still serves the snapshot of the committed lock, the new
// lock must equal it byte for byte.
func TestLockRealMirror(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no network")
	}
	mirrors, err := debarchive.FindMirrors(debarchive.Mirrors{}, "/")
	if err != nil {
		if testenv.Required() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	testenv.File(t, debarchive.DefaultKeyring, "debian-archive-keyring")
	dir := t.TempDir()
	src, err := os.ReadFile("../../images/minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	specPath := filepath.Join(dir, "minimal.yml")
	os.WriteFile(specPath, src, 0o644)
	cache := &debarchive.Cache{Dir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	l, out, err := lockfile.WriteLock(ctx, &debarchive.Client{Mirrors: mirrors, Cache: cache}, specPath)
	if err != nil {
		if testenv.Required() {
			t.Fatal(err)
		}
		t.Skipf("the host's mirror is not usable: %v", err)
	}
	first, _ := os.ReadFile(out)
	if _, _, err := lockfile.WriteLock(ctx, &debarchive.Client{Mirrors: mirrors, Cache: cache}, specPath); err != nil {
		t.Fatal(err)
	}
	if second, _ := os.ReadFile(out); string(first) != string(second) {
		t.Errorf("two locks of the same snapshot differ")
	}
	committed, err := imagespec.LoadLock("../../images/minimal.lock.json")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(committed.Suites, l.Suites) {
		if b, _ := os.ReadFile("../../images/minimal.lock.json"); string(b) != string(first) {
			t.Errorf("same InRelease as images/minimal.lock.json but a different lock")
		}
	} else {
		t.Logf("the mirror has moved on since images/minimal.lock.json was written (suites %v, now %v)", committed.Suites, l.Suites)
	}
	// Fetch the small packages (not the 30 MB kernel image) and check
	// they are .deb archives.
	small := *l
	small.Kernel = small.Kernel[:1]
	paths, err := lockfile.Fetch(ctx, &small, mirrors, cache)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || !strings.HasPrefix(string(b), "!<arch>\ndebian-binary") {
			t.Errorf("%s: %s is not a .deb (%v)", name, p, err)
		}
	}
}

// TestLockCheckCommand: lock --check exits 0 on a current lock and 1,
// naming each package pin that would change (security updates marked and
// first), once the security archive has an update; it never writes.
func TestLockCheckCommand(t *testing.T) {
	pkgs := []fakearchive.Pkg{
		{Name: "busybox-static", Version: "1:1.37.0-6", Depends: "libc6 (>= 2.36)"},
		{Name: "libc6", Version: "2.41-12"},
		{Name: "linux-image-cloud-amd64", Version: "6.12.117-1"},
		{Name: "systemd-boot-efi", Version: "257.13-1"},
	}
	main := fakearchive.New(t, "trixie", pkgs)
	sec := fakearchive.NewSecurity(t, "trixie-security", nil)
	dir := t.TempDir()
	main.WriteKeyring(filepath.Join(dir, "archive.asc"), sec)
	specPath := filepath.Join(dir, "t.yml")
	os.WriteFile(specPath, []byte("name: t\ndebian: {suites: [trixie, trixie-security], keyring: archive.asc}\npackages: [busybox-static]\nkernel: {package: linux-image-cloud-amd64}\n"), 0o644)
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv(debarchive.MirrorEnv, main.Mirror())
	t.Setenv(debarchive.SecurityMirrorEnv, sec.Mirror())

	if code, _, stderr := hv(t, "lock", "--check", specPath); code != exitFailure || !strings.Contains(stderr, "has no lock file") {
		t.Errorf("check without a lock: exit %d, %q", code, stderr)
	}
	if code, _, stderr := hv(t, "lock", specPath); code != exitOK {
		t.Fatalf("lock: exit %d, %s", code, stderr)
	}
	lockPath := filepath.Join(dir, "t.lock.json")
	before, _ := os.ReadFile(lockPath)
	if code, stdout, stderr := hv(t, "lock", "--check", specPath); code != exitOK || !strings.HasPrefix(stdout, lockPath+": current;") {
		t.Errorf("check of a current lock: exit %d, %q, %q", code, stdout, stderr)
	}

	const changelog = `glibc (2.41-12+deb13u1) trixie-security; urgency=high

  * Fix CVE-2026-0001 and CVE-2026-0002 in the resolver.

 -- Debian Security Team <team@security.debian.org>  Mon, 30 Nov 2026 10:00:00 +0000

glibc (2.41-12) unstable; urgency=medium

  * Fix CVE-2025-9999 (already locked).

 -- Maintainer <m@example.org>  Mon, 01 Jun 2026 10:00:00 +0000
`
	sec = fakearchive.NewSecurity(t, "trixie-security", []fakearchive.Pkg{
		{Name: "libc6", Version: "2.41-12+deb13u1", Body: fakearchive.Deb(t, "libc6", "2.41-12+deb13u1", changelog)},
		{Name: "linux-image-cloud-amd64", Version: "6.12.118-1"},
	})
	main.WriteKeyring(filepath.Join(dir, "archive.asc"), sec)
	t.Setenv(debarchive.SecurityMirrorEnv, sec.Mirror())
	code, stdout, stderr := hv(t, "lock", "--check", specPath)
	want := lockPath + ": not current; trixie trixie-security, 2 packages, kernel linux-image-cloud-amd64 6.12.118-1, stub systemd-boot-efi 257.13-1\n" +
		"! libc6: 2.41-12 -> 2.41-12+deb13u1 (trixie-security)\n" +
		"    2.41-12+deb13u1 (urgency high): CVE-2026-0001, CVE-2026-0002\n" +
		"! linux-image-cloud-amd64: 6.12.117-1 -> 6.12.118-1 (trixie-security)\n" +
		"    (linux-image-cloud-amd64 6.12.118-1: no changelog read: ar header at offset 8: 35 of 60 bytes)\n"
	if code != exitFailure || stdout != want || !strings.Contains(stderr, "is not current: 2 package pin(s) would change") {
		t.Errorf("check with security updates: exit %d\nstdout %q\nwant   %q\nstderr %q", code, stdout, want, stderr)
	}
	if after, _ := os.ReadFile(lockPath); string(after) != string(before) {
		t.Errorf("lock --check changed the lock file")
	}
}
