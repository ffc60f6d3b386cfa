package lockfile

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/hardenvm/hardenvm/pkg/debarchive"
	"github.com/hardenvm/hardenvm/pkg/debarchive/fakearchive"
	"github.com/hardenvm/hardenvm/pkg/imagespec"
)

// testPkgs is a small archive: a root with a versioned dependency, an
// alternative, a virtual package, a Pre-Depends, a kernel metapackage and
// the boot stub.
var testPkgs = []fakearchive.Pkg{
	{Name: "busybox-static", Version: "1:1.37.0-6", Depends: "libc6 (>= 2.36), mawk | awk", PreDepends: "init-helper"},
	{Name: "libc6", Version: "2.41-12", Priority: "required"},
	{Name: "gawk", Version: "1:5.2.1-2", Provides: "awk", Depends: "libc6"},
	{Name: "original-awk", Version: "2023-1", Provides: "awk"},
	{Name: "init-helper", Version: "1.0", Arch: "all"},
	{Name: "unrelated", Version: "1.0", Depends: "libc6"},
	{Name: "linux-image-cloud-amd64", Version: "6.12.117-1", Depends: "linux-image-6.12.117+deb13-cloud-amd64 (= 6.12.117-1)"},
	{Name: "linux-image-6.12.117+deb13-cloud-amd64", Version: "6.12.117-1", Depends: "kmod, initramfs-tools | linux-initramfs-tool", Body: []byte("vmlinuz and modules")},
	{Name: "systemd-boot-efi", Version: "257.13-1~deb13u1"},
	{Name: "docker-stub", Version: "1.0", Arch: "arm64"},
}

const testSpec = `name: t
debian: {suites: [trixie], keyring: archive.asc}
packages: [busybox-static]
kernel: {package: linux-image-cloud-amd64}
`

// writeSpec puts a spec and the archive's keyring in a fresh directory.
func writeSpec(t *testing.T, a *fakearchive.Archive, text string) string {
	t.Helper()
	dir := t.TempDir()
	a.WriteKeyring(filepath.Join(dir, "archive.asc"))
	p := filepath.Join(dir, "t.yml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLockFakeArchive(t *testing.T) {
	a := fakearchive.New(t, "trixie", testPkgs)
	specPath := writeSpec(t, a, testSpec)
	c := &debarchive.Client{Mirrors: debarchive.Mirrors{Debian: a.Mirror()}, Cache: &debarchive.Cache{Dir: t.TempDir()}}
	l, out, err := WriteLock(context.Background(), c, specPath)
	if err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range l.Packages {
		names = append(names, p.Name+"="+p.Version)
	}
	// mawk is absent, so awk comes from a provider: gawk (priority ties,
	// first by name). unrelated is not pulled in.
	want := "busybox-static=1:1.37.0-6 gawk=1:5.2.1-2 init-helper=1.0 libc6=2.41-12"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("locked packages = %s, want %s", got, want)
	}
	if len(l.Kernel) != 2 || l.Kernel[1].Name != "linux-image-6.12.117+deb13-cloud-amd64" || l.Kernel[1].SHA256 != fakearchive.SHA256([]byte("vmlinuz and modules")) {
		t.Errorf("kernel = %+v, want the metapackage then the image", l.Kernel)
	}
	if l.Suites[0].InRelease != fakearchive.SHA256(a.Get("dists/trixie/InRelease")) {
		t.Errorf("InRelease digest = %s, want the served file's", l.Suites[0].InRelease)
	}
	if l.Suites[0].SignedBy != strings.ToUpper(a.Entity.PrimaryKey.KeyIdString()) && !strings.HasSuffix(l.Suites[0].SignedBy, strings.ToUpper(a.Entity.PrimaryKey.KeyIdString())) {
		t.Errorf("SignedBy = %s, want the test key", l.Suites[0].SignedBy)
	}
	if a.Hits("dists/trixie/main/binary-amd64/by-hash/SHA256/"+fakearchive.SHA256(a.Get("dists/trixie/main/binary-amd64/Packages.gz"))) != 1 {
		t.Errorf("the index was not fetched by hash")
	}

	// Twice: byte-identical, and the index comes from the cache.
	if _, _, err := WriteLock(context.Background(), &debarchive.Client{Mirrors: debarchive.Mirrors{Debian: a.Mirror()}, Cache: c.Cache}, specPath); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(out)
	if string(first) != string(second) {
		t.Errorf("lock differs between two runs:\n%s\n%s", first, second)
	}
	if n := a.Hits("dists/trixie/main/binary-amd64/by-hash/SHA256/" + fakearchive.SHA256(a.Get("dists/trixie/main/binary-amd64/Packages.gz"))); n != 1 {
		t.Errorf("index fetched %d times, want once (cached)", n)
	}
	if _, _, err := imagespec.LoadLocked(specPath); err != nil {
		t.Errorf("the written lock does not agree with its spec: %v", err)
	}
}

// TestTamperedInputs plays a hostile mirror: each modified file must fail
// with an error naming it and the expected and actual digests, and leave
// no lock file and no cache entry behind.
func TestTamperedInputs(t *testing.T) {
	const inrelease = "dists/trixie/InRelease"
	const packages = "dists/trixie/main/binary-amd64/Packages.gz"
	tests := []struct {
		name  string
		file  func(a *fakearchive.Archive) string
		edit  func(b []byte) []byte
		want  []string
		isSig bool
	}{
		{"InRelease text", func(*fakearchive.Archive) string { return inrelease },
			func(b []byte) []byte {
				return []byte(strings.Replace(string(b), "Codename: trixie", "Codename: trixiE", 1))
			},
			[]string{inrelease, "sha256 ", "digest starting", "the served text's digest is"}, true},
		{"InRelease signature", func(*fakearchive.Archive) string { return inrelease },
			func(b []byte) []byte { return corruptSignature(t, b) },
			[]string{inrelease, "sha256 ", "digest starting", "the served text's digest is"}, true},
		{"InRelease unsigned", func(*fakearchive.Archive) string { return inrelease },
			func(b []byte) []byte { return []byte("Codename: trixie\n") },
			[]string{inrelease, "not a single clearsigned OpenPGP message"}, true},
		{"Packages", func(a *fakearchive.Archive) string {
			return "dists/trixie/main/binary-amd64/by-hash/SHA256/" + fakearchive.SHA256(a.Get(packages))
		}, func(b []byte) []byte { b[len(b)-5] ^= 1; return b },
			[]string{packages + ": sha256 mismatch: expected "}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := fakearchive.New(t, "trixie", testPkgs)
			specPath := writeSpec(t, a, testSpec)
			file := tt.file(a)
			orig := a.Get(file)
			a.Tamper(file, tt.edit)
			cache := &debarchive.Cache{Dir: t.TempDir()}
			_, _, err := WriteLock(context.Background(), &debarchive.Client{Mirrors: debarchive.Mirrors{Debian: a.Mirror()}, Cache: cache}, specPath)
			if err == nil {
				t.Fatal("WriteLock succeeded on tampered input")
			}
			t.Logf("error: %v", err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if tt.isSig && !errors.Is(err, debarchive.ErrBadSignature) {
				t.Errorf("error %v is not ErrBadSignature", err)
			}
			var de *debarchive.DigestError
			if !tt.isSig {
				if !errors.As(err, &de) || de.Want != fakearchive.SHA256(orig) || de.Got != fakearchive.SHA256(a.Get(file)) {
					t.Errorf("error %v: want a deb.DigestError with expected %s and actual %s", err, fakearchive.SHA256(orig), fakearchive.SHA256(a.Get(file)))
				}
			}
			if _, err := os.Stat(imagespec.LockPath(specPath)); !os.IsNotExist(err) {
				t.Errorf("a lock file was written: %v", err)
			}
			assertNoFiles(t, cache.Dir)
		})
	}
}

// corruptSignature flips a bit inside the signature's MPI, keeping the
// armor valid, so that only the cryptographic check can catch it.
func corruptSignature(t *testing.T, b []byte) []byte {
	block, _ := clearsign.Decode(b)
	sig, err := io.ReadAll(block.ArmoredSignature.Body)
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)-3] ^= 0x10
	i := bytes.Index(b, []byte("-----BEGIN PGP SIGNATURE-----"))
	out := bytes.NewBuffer(bytes.Clone(b[:i]))
	w, err := armor.Encode(out, "PGP SIGNATURE", nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(sig)
	w.Close()
	out.WriteString("\n")
	return out.Bytes()
}

func assertNoFiles(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("file left behind: %s", p)
		}
		return nil
	})
}

func TestUnsatisfiableChain(t *testing.T) {
	pkgs := []fakearchive.Pkg{
		{Name: "busybox-static", Version: "1.0", Depends: "libfoo"},
		{Name: "libfoo", Version: "1.0", Depends: "libbar (>= 2.0) | libbaz"},
		{Name: "libbar", Version: "1.5"},
		{Name: "linux-image-cloud-amd64", Version: "1"},
		{Name: "systemd-boot-efi", Version: "1"},
	}
	a := fakearchive.New(t, "trixie", pkgs)
	specPath := writeSpec(t, a, testSpec)
	_, _, err := WriteLock(context.Background(), &debarchive.Client{Mirrors: debarchive.Mirrors{Debian: a.Mirror()}, Cache: &debarchive.Cache{Dir: t.TempDir()}}, specPath)
	want := "unsatisfiable dependency: busybox-static 1.0 -> libfoo 1.0 Depends: libbar (>= 2.0) | libbaz: libbar has version 1.5, not >= 2.0; libbaz is not in the index (amd64)"
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("WriteLock error = %v\nwant it to end with %s", err, want)
	}
	var ue *debarchive.UnsatisfiableError
	if !errors.As(err, &ue) {
		t.Errorf("error is not an *UnsatisfiableError")
	}
}

func TestWrongKeyAndSuite(t *testing.T) {
	a := fakearchive.New(t, "trixie", testPkgs)
	stranger, err := openpgp.NewEntity("someone else", "", "else@test.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&debarchive.Client{Mirrors: debarchive.Mirrors{Debian: a.Mirror()}, Cache: &debarchive.Cache{Dir: t.TempDir()}, Keyring: openpgp.EntityList{stranger}}).Release(context.Background(), "trixie")
	if !errors.Is(err, debarchive.ErrBadSignature) || !strings.Contains(err.Error(), "dists/trixie/InRelease") {
		t.Errorf("InRelease signed by a key not in the keyring: %v", err)
	}
	specPath := writeSpec(t, a, strings.Replace(testSpec, "suites: [trixie]", "suites: [forky]", 1))
	_, _, err = WriteLock(context.Background(), &debarchive.Client{Mirrors: debarchive.Mirrors{Debian: a.Mirror()}, Cache: &debarchive.Cache{Dir: t.TempDir()}}, specPath)
	if err == nil || !strings.Contains(err.Error(), "fetching dists/forky/InRelease: HTTP 404") {
		t.Errorf("missing suite: %v", err)
	}
	// An archive whose InRelease says another codename than the one asked for.
	a.Put("dists/forky/InRelease", a.Get("dists/trixie/InRelease"))
	_, _, err = WriteLock(context.Background(), &debarchive.Client{Mirrors: debarchive.Mirrors{Debian: a.Mirror()}, Cache: &debarchive.Cache{Dir: t.TempDir()}}, specPath)
	if err == nil || !strings.Contains(err.Error(), `signed for suite "stable" (codename "trixie"), not "forky"`) {
		t.Errorf("substituted suite: %v", err)
	}
}
