package lockfile

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/pkg/debarchive"
	"github.com/hardenvm/hardenvm/pkg/debarchive/fakearchive"
)

const securitySpec = `name: t
debian: {suites: [trixie, trixie-security], keyring: archive.asc}
packages: [busybox-static]
kernel: {package: linux-image-cloud-amd64}
`

// securityArchives serves trixie from a main archive and trixie-security
// from a security archive signed with another key, and writes a spec
// trusting both keys.
func securityArchives(t *testing.T, security []fakearchive.Pkg) (main, sec *fakearchive.Archive, specPath string) {
	t.Helper()
	main = fakearchive.New(t, "trixie", testPkgs)
	sec = fakearchive.NewSecurity(t, "trixie-security", security)
	dir := t.TempDir()
	main.WriteKeyring(filepath.Join(dir, "archive.asc"), sec)
	specPath = filepath.Join(dir, "t.yml")
	if err := os.WriteFile(specPath, []byte(securitySpec), 0o644); err != nil {
		t.Fatal(err)
	}
	return main, sec, specPath
}

func client(t *testing.T, main, sec *fakearchive.Archive) *debarchive.Client {
	return &debarchive.Client{Mirrors: debarchive.Mirrors{Debian: main.Mirror(), Security: sec.Mirror()}, Cache: &debarchive.Cache{Dir: t.TempDir()}}
}

// TestSecuritySuiteWins: a newer version in the security suite is the one
// locked, with its suite and its pool path in the security archive, and
// the build fetches it from there.
func TestSecuritySuiteWins(t *testing.T) {
	main, sec, specPath := securityArchives(t, []fakearchive.Pkg{
		{Name: "libc6", Version: "2.41-12+deb13u1", Priority: "required"},
		{Name: "busybox-static", Version: "1:1.37.0-5"}, // older than main's: main's stays
	})
	c := client(t, main, sec)
	l, _, err := WriteLock(context.Background(), c, specPath)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range l.All() {
		got[p.Name] = p.Version + " " + p.Suite + " " + p.Path
	}
	for name, want := range map[string]string{
		"libc6":          "2.41-12+deb13u1 trixie-security pool/updates/main/l/libc6/libc6_2.41-12+deb13u1_amd64.deb",
		"busybox-static": "1:1.37.0-6 trixie pool/main/b/busybox-static/busybox-static_1.37.0-6_amd64.deb",
	} {
		if got[name] != want {
			t.Errorf("%s locked as %q, want %q", name, got[name], want)
		}
	}
	if len(l.Suites) != 2 || l.Suites[1].Archive != debarchive.ArchiveSecurity || l.Suites[1].SignedBy == l.Suites[0].SignedBy {
		t.Errorf("suites = %+v, want trixie and trixie-security signed by different keys", l.Suites)
	}
	paths, err := Fetch(context.Background(), l, c.Mirrors, &debarchive.Cache{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(paths["libc6"]); string(b) != string(sec.Get("pool/updates/main/l/libc6/libc6_2.41-12+deb13u1_amd64.deb")) {
		t.Errorf("libc6 fetched from the wrong archive: %q", b)
	}
}

// TestLockCheck: a lock made before the security archive had an update is
// current until the update appears; then Relock without writing names it,
// security first, and leaves the file alone.
func TestLockCheck(t *testing.T) {
	main, sec, specPath := securityArchives(t, nil)
	if _, _, err := WriteLock(context.Background(), client(t, main, sec), specPath); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(filepath.Dir(specPath), "t.lock.json"))
	u, err := Relock(context.Background(), client(t, main, sec), specPath, false)
	if err != nil || len(u.Changes) != 0 {
		t.Fatalf("check of a current lock = %v, %v; want no changes", u, err)
	}

	sec = fakearchive.NewSecurity(t, "trixie-security", []fakearchive.Pkg{
		{Name: "libc6", Version: "2.41-12+deb13u1", Priority: "required"},
	})
	main.WriteKeyring(filepath.Join(filepath.Dir(specPath), "archive.asc"), sec)
	u, err = Relock(context.Background(), client(t, main, sec), specPath, false)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, c := range u.Changes {
		lines = append(lines, c.String())
	}
	if want := "libc6: 2.41-12 -> 2.41-12+deb13u1 (trixie-security)"; len(u.Changes) != 1 || !u.Changes[0].Security() || lines[0] != want {
		t.Errorf("changes = %q, want [%q] as a security update", lines, want)
	}
	if after, _ := os.ReadFile(u.Path); string(after) != string(before) || u.Written {
		t.Errorf("a check rewrote the lock")
	}
}

// TestSecuritySuiteFailures: each failure of the security suite is one
// error naming it, and no lock is written.
func TestSecuritySuiteFailures(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(sec *fakearchive.Archive, c *debarchive.Client)
		want    []string
	}{
		{"tampered InRelease", func(sec *fakearchive.Archive, _ *debarchive.Client) {
			sec.Tamper("dists/trixie-security/InRelease", func(b []byte) []byte {
				return []byte(strings.Replace(string(b), "Codename: trixie-security", "Codename: trixie-securitY", 1))
			})
		}, []string{"debian-security/dists/trixie-security/InRelease", "does not verify"}},
		{"unreachable", func(sec *fakearchive.Archive, _ *debarchive.Client) { sec.Server.Close() },
			[]string{"suite trixie-security (debian-security archive)", "dists/trixie-security/InRelease"}},
		{"no mirror", func(_ *fakearchive.Archive, c *debarchive.Client) { c.Mirrors.Security = "" },
			[]string{"no mirror for the debian-security archive", "--security-mirror", debarchive.SecurityMirrorEnv}},
		{"another key", func(sec *fakearchive.Archive, c *debarchive.Client) {
			c.Keyring = fakearchive.New(t, "trixie", nil).Keyring // the main key only
		}, []string{"debian-security/dists/trixie-security/InRelease", "does not verify"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			main, sec, specPath := securityArchives(t, nil)
			c := client(t, main, sec)
			tt.breakIt(sec, c)
			_, _, err := WriteLock(context.Background(), c, specPath)
			if err == nil {
				t.Fatal("WriteLock succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(specPath), "t.lock.json")); err == nil {
				t.Errorf("a lock was written")
			}
		})
	}
}
