package sbom

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/hardenvm/hardenvm/internal/debtest"
	"github.com/hardenvm/hardenvm/pkg/debpkg"
	"github.com/hardenvm/hardenvm/pkg/initramfs"
)

// realPackage downloads a package from the host's mirror and describes it
// as the lock would.
func realPackage(t *testing.T, name, role string) Package {
	t.Helper()
	path := debtest.Download(t, name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := debpkg.ReadDocs(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return Package{Name: name, Version: d.Control["Version"], Arch: d.Control["Architecture"], SHA256: hex.EncodeToString(s[:]),
		Role: role, Suite: "bookworm-security", Deb: func() (io.ReadCloser, error) { return os.Open(path) }}
}

func component(bom *cdx.BOM, ref string) *cdx.Component {
	for i, c := range *bom.Components {
		if c.BOMRef == ref {
			return &(*bom.Components)[i]
		}
	}
	return nil
}

func property(c *cdx.Component, name string) string {
	if c == nil || c.Properties == nil {
		return ""
	}
	for _, p := range *c.Properties {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// TestBuildRealPackages describes real packages (runc, whose changelog
// names CVEs; libgcc-s1, whose doc directory links to gcc-12-base's), a
// kernel, a Go binary (this test) and a plain file, then reads the
// document back with the CycloneDX library.
func TestBuildRealPackages(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads packages")
	}
	pkgs := []Package{realPackage(t, "runc", "rootfs"), realPackage(t, "libgcc-s1", "rootfs"), realPackage(t, "gcc-12-base", "rootfs")}
	// The real guest init: a static Go binary with module dependencies.
	initPath := filepath.Join(t.TempDir(), "init")
	if err := initramfs.BuildInit(context.Background(), "../..", initPath); err != nil {
		t.Fatal(err)
	}
	initBin, err := os.ReadFile(initPath)
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Name: "test", Epoch: time.Unix(1700000000, 0), Tool: "hardenvm", ToolVersion: "v0.0.0-test", Distro: "bookworm",
		Packages: pkgs, Kernel: &Kernel{Release: "6.12.0-test", SHA256: hex.EncodeToString(make([]byte, 32)), Package: "linux-image-test"},
		Binaries: []Binary{{Path: "/usr/lib/hardenvm/init", Data: initBin}, {Path: "/etc/motd", Data: []byte("hello\n")}}}
	var out [2][]byte
	for i := range out {
		bom, err := Build(in)
		if err != nil {
			t.Fatal(err)
		}
		if out[i], err = Marshal(bom); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out[0], out[1]) {
		t.Fatal("two SBOMs of the same inputs differ")
	}
	bom, err := Parse(out[0])
	if err != nil {
		t.Fatal(err)
	}
	if bom.SerialNumber == "" || bom.Metadata.Timestamp != "2023-11-14T22:13:20Z" {
		t.Errorf("serial %q, timestamp %q", bom.SerialNumber, bom.Metadata.Timestamp)
	}

	debs := 0
	for _, c := range *bom.Components {
		if property(&c, "hardenvm:role") != "" {
			debs++
		}
	}
	if debs != len(pkgs) {
		t.Errorf("%d Debian package components, want %d", debs, len(pkgs))
	}
	for _, p := range pkgs {
		ref := PackageURL(p.Name, p.Version, p.Arch, "bookworm")
		c := component(bom, ref)
		if c == nil {
			t.Fatalf("no component %s", ref)
		}
		if c.Hashes == nil || (*c.Hashes)[0].Value != p.SHA256 || c.Version != p.Version {
			t.Errorf("%s: hashes %v, version %s; want sha256 %s, %s", ref, c.Hashes, c.Version, p.SHA256, p.Version)
		}
		if property(c, "debian:suite") != "bookworm-security" {
			t.Errorf("%s: suite property %q", ref, property(c, "debian:suite"))
		}
	}

	runc := component(bom, PackageURL(pkgs[0].Name, pkgs[0].Version, pkgs[0].Arch, "bookworm"))
	if runc.Licenses == nil || !slices.ContainsFunc(*runc.Licenses, func(l cdx.LicenseChoice) bool { return l.License.Name == "Apache-2.0" }) {
		t.Errorf("runc licenses = %+v, want Apache-2.0 among them", runc.Licenses)
	}
	// runc 1.1.5+ds1-1+deb12u1 fixed CVE-2024-21626; every bookworm
	// runc since names it.
	var fixed *cdx.Vulnerability
	for i, v := range *bom.Vulnerabilities {
		if v.ID == "CVE-2024-21626" {
			fixed = &(*bom.Vulnerabilities)[i]
		}
	}
	if fixed == nil || fixed.Analysis.State != cdx.IASResolved || (*fixed.Affects)[0].Ref != runc.BOMRef {
		t.Errorf("CVE-2024-21626 = %+v, want resolved in %s", fixed, runc.BOMRef)
	}
	libgcc := component(bom, PackageURL(pkgs[1].Name, pkgs[1].Version, pkgs[1].Arch, "bookworm"))
	if got := property(libgcc, "hardenvm:changelog-of"); got != "gcc-12-base" {
		t.Errorf("libgcc-s1 changelog-of = %q, want gcc-12-base (its doc directory's link)", got)
	}
	if got := property(libgcc, "debian:source"); got != "gcc-12" {
		t.Errorf("libgcc-s1 source = %q, want gcc-12", got)
	}

	// The Go binary lists the modules its build info names.
	init := component(bom, "file:/usr/lib/hardenvm/init")
	bi, err := buildinfo.ReadFile(initPath)
	if err != nil {
		t.Fatal(err)
	}
	if init == nil || init.Type != cdx.ComponentTypeApplication || init.Components == nil || len(*init.Components) != len(bi.Deps) || len(bi.Deps) == 0 {
		t.Fatalf("init component = %+v, want %d modules", init, len(bi.Deps))
	}
	for i, d := range bi.Deps {
		if m := (*init.Components)[i]; m.Name != d.Path || m.PackageURL != goPurl(d.Path, d.Version) {
			t.Errorf("module %d = %s %s, want %s@%s", i, m.Name, m.PackageURL, d.Path, d.Version)
		}
	}
	if property(init, "golang:main-module") != "github.com/hardenvm/hardenvm" {
		t.Errorf("init main module = %q", property(init, "golang:main-module"))
	}
	if motd := component(bom, "file:/etc/motd"); motd == nil || motd.Type != cdx.ComponentTypeFile {
		t.Errorf("plain file component = %+v", motd)
	}
	if k := component(bom, "kernel:linux@6.12.0-test"); k == nil || property(k, "hardenvm:debian-package") != "linux-image-test" {
		t.Errorf("kernel component = %+v", k)
	}
}

func TestPurl(t *testing.T) {
	tests := []struct{ name, version, arch, distro, want string }{
		{"runc", "1.1.15+ds1-2+deb13u1", "amd64", "trixie", "pkg:deb/debian/runc@1.1.15%2Bds1-2%2Bdeb13u1?arch=amd64&distro=trixie"},
		{"busybox-static", "1:1.37.0-6", "amd64", "", "pkg:deb/debian/busybox-static@1%3A1.37.0-6?arch=amd64"},
		{"libstdc++6", "14.2.0-19", "amd64", "trixie", "pkg:deb/debian/libstdc%2B%2B6@14.2.0-19?arch=amd64&distro=trixie"},
	}
	for _, tt := range tests {
		if got := PackageURL(tt.name, tt.version, tt.arch, tt.distro); got != tt.want {
			t.Errorf("PackageURL(%q, %q) = %q, want %q", tt.name, tt.version, got, tt.want)
		}
	}
	if got, want := goPurl("github.com/spf13/cobra", "v1.10.2"), "pkg:golang/github.com/spf13/cobra@v1.10.2"; got != want {
		t.Errorf("goPurl() = %q, want %q", got, want)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, in := range []string{"", "{}", `{"bomFormat":"CycloneDX","specVersion":"1.4"}`, "not json"} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q) succeeded", in)
		}
	}
}
