package imagespec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func pkg(name string) Package {
	return Package{Name: name, Version: "1.0-1", Arch: "amd64", Suite: "trixie", Path: "pool/main/" + name[:1] + "/" + name + "/" + name + "_1.0-1_amd64.deb",
		SHA256: strings.Repeat("ab", 32), Size: 1234}
}

func testLock() *Lock {
	return &Lock{
		Name: "t", Arch: "amd64", Components: []string{"main"},
		Suites: []LockSuite{
			{Name: "trixie", Archive: "debian", InRelease: strings.Repeat("0f", 32), SignedBy: strings.Repeat("AB12", 10)},
			{Name: "trixie-updates", Archive: "debian", InRelease: strings.Repeat("2d", 32), SignedBy: strings.Repeat("AB12", 10)},
			{Name: "trixie-security", Archive: "debian-security", InRelease: strings.Repeat("1e", 32), SignedBy: strings.Repeat("CD34", 10)},
		},
		Requested: []string{"busybox-static"},
		Kernel:    []Package{pkg("linux-image-cloud-amd64"), pkg("linux-image-6.12.1-cloud-amd64")}, Stub: pkg("systemd-boot-efi"),
		Packages: []Package{pkg("libc6"), pkg("busybox-static")},
	}
}

func TestLockRoundTrip(t *testing.T) {
	l := testLock()
	b, err := l.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseLock("t.lock.json", b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Packages[0].Name != "busybox-static" {
		t.Errorf("Marshal did not sort packages: %v", got.Packages)
	}
	b2, err := got.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(b2) {
		t.Errorf("Marshal(ParseLock(Marshal(l))) differs:\n%s\n%s", b, b2)
	}
	if n := len(got.All()); n != 5 {
		t.Errorf("All() has %d packages, want 5", n)
	}
}

func TestParseLockErrors(t *testing.T) {
	good, _ := testLock().Marshal()
	tests := []struct {
		name      string
		edit      func(string) string
		wantInErr string
	}{
		{"syntax", func(s string) string { return strings.Replace(s, `"name": "t",`, `"name": "t"`, 1) }, "t.lock.json:4: JSON syntax"},
		{"unknown", func(s string) string { return strings.Replace(s, `"name": "t",`, `"name": "t", "mirror": "x",`, 1) }, `unknown field "mirror"`},
		{"type", func(s string) string { return strings.Replace(s, `"size": 1234`, `"size": "big"`, 1) }, "t.lock.json:39: kernel.size: want a int64, got a JSON string"},
		{"digest", func(s string) string { return strings.Replace(s, strings.Repeat("ab", 32), "abc", 1) }, "kernel[0]: linux-image-cloud-amd64: sha256 \"abc\" is not 64 lower-case hex digits"},
		{"path", func(s string) string { return strings.Replace(s, "pool/main/l/", "pool/../../etc/", 1) }, "is not a .deb under pool/"},
		{"version", func(s string) string { return strings.Replace(s, `"lockVersion": 2`, `"lockVersion": 9`, 1) }, "lockVersion: 9: this hardenvm reads version 2"},
		{"trailing", func(s string) string { return s + "{}" }, "data after the lock object"},
		{"unsorted", func(s string) string {
			return strings.Replace(strings.Replace(s, `"name": "busybox-static"`, `"name": "zz"`, 1), `"requested": [`, `"requested": [`, 1)
		}, `packages[1]: "libc6": packages must be sorted by name, each once`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseLock("t.lock.json", []byte(tt.edit(string(good))))
			if err == nil || !strings.Contains(err.Error(), tt.wantInErr) {
				t.Errorf("ParseLock = %v, want an error containing %q", err, tt.wantInErr)
			}
		})
	}
}

func TestLockCheck(t *testing.T) {
	dir := t.TempDir()
	specPath := filepath.Join(dir, "t.yml")
	if err := os.WriteFile(specPath, []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadLocked(specPath); err == nil || !strings.Contains(err.Error(), "has no lock file "+filepath.Join(dir, "t.lock.json")) {
		t.Errorf("LoadLocked without lock = %v", err)
	}
	b, _ := testLock().Marshal()
	if err := os.WriteFile(LockPath(specPath), b, 0o644); err != nil {
		t.Fatal(err)
	}
	s, l, err := LoadLocked(specPath)
	if err != nil {
		t.Fatalf("LoadLocked = %v", err)
	}
	if s.Name != "t" || l.Kernel[0].Name != "linux-image-cloud-amd64" {
		t.Errorf("LoadLocked gave %q %q", s.Name, l.Kernel[0].Name)
	}
	tests := []struct {
		name, spec, want string
	}{
		{"package added", "name: t\npackages: [busybox-static, runc]\nkernel: {package: linux-image-cloud-amd64}\n", "packages: not locked [runc], locked but no longer in the spec []"},
		{"package removed", "name: t\npackages: [runc]\nkernel: {package: linux-image-cloud-amd64}\n", "packages: not locked [runc], locked but no longer in the spec [busybox-static]"},
		{"suites", base + "debian: {suites: [forky]}\n", "debian.suites: spec has [forky], lock has [trixie trixie-updates trixie-security]"},
		{"kernel", "name: t\npackages: [busybox-static]\nkernel: {package: linux-image-amd64}\n", "kernel.package: spec has linux-image-amd64, lock has linux-image-cloud-amd64"},
		{"stub", base + "stub: other-stub\n", "stub: spec has other-stub, lock has systemd-boot-efi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(specPath, []byte(tt.spec))
			if err != nil {
				t.Fatal(err)
			}
			err = l.Check(s, "t.lock.json")
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "run 'hardenvm lock "+specPath+"'") {
				t.Errorf("Check = %v, want it to contain %q and the fix", err, tt.want)
			}
		})
	}
}

func TestLockPath(t *testing.T) {
	for in, want := range map[string]string{"images/minimal.yml": "images/minimal.lock.json", "a.yaml": "a.lock.json", "x": "x.lock.json"} {
		if got := LockPath(in); got != want {
			t.Errorf("LockPath(%q) = %q, want %q", in, got, want)
		}
	}
}
