package debpkg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hardenvm/hardenvm/internal/debtest"
	"github.com/hardenvm/hardenvm/internal/testenv"
)

func gz(t testing.TB, s string) string {
	t.Helper()
	return string(compress(t, []byte(s), ".gz"))
}

// docsDeb is a .deb of package pkg at version with the data.tar entries
// given (regular files unless their name is in links).
func docsDeb(t testing.TB, pkg, version string, files map[string]string, links map[string]string) []byte {
	t.Helper()
	control := "Package: " + pkg + "\nVersion: " + version + "\nArchitecture: amd64\n"
	ctl := tarBytes(t, []*tar.Header{{Name: "./control", Typeflag: tar.TypeReg, Mode: 0o644}}, map[string]string{"./control": control})
	hdrs := []*tar.Header{{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}, {Name: "./usr/share/doc/", Typeflag: tar.TypeDir, Mode: 0o755}}
	for name, target := range links {
		hdrs = append(hdrs, &tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777})
	}
	for name := range files {
		hdrs = append(hdrs, &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644})
	}
	return arBytes(
		member{"debian-binary", []byte("2.0\n")},
		member{"control.tar.xz", compress(t, ctl, ".xz")},
		member{"data.tar.zst", compress(t, tarBytes(t, hdrs, files), ".zst")},
	)
}

func TestChangelog(t *testing.T) {
	const (
		mainLog   = "runc (1.1.15+ds1-2) unstable; urgency=medium\n\n  * x\n\n -- A <a@b>  Mon, 01 Jan 2024 00:00:00 +0000\n"
		binNMULog = "runc (1.1.15+ds1-2+b4) sid; urgency=low, binary-only=yes\n\n  * Rebuild\n\n -- B <b@c>  Tue, 02 Jan 2024 00:00:00 +0000\n"
		doc       = "./usr/share/doc/runc/"
	)
	tests := []struct {
		name    string
		pkg     string // "" reads it from the control file
		version string
		files   map[string]string
		links   map[string]string
		want    string
		link    string // want a *NoChangelogError with this Link
		noLog   bool   // want a *NoChangelogError
	}{
		{name: "plain", version: "1.1.15+ds1-2", files: map[string]string{doc + "changelog.Debian.gz": gz(t, mainLog)}, want: mainLog},
		{name: "binNMU first", version: "1.1.15+ds1-2+b4", files: map[string]string{
			doc + "changelog.Debian.gz": gz(t, mainLog), doc + "changelog.Debian.amd64.gz": gz(t, binNMULog)}, want: binNMULog + mainLog},
		{name: "binNMU of another arch ignored", version: "1.1.15+ds1-2", files: map[string]string{
			doc + "changelog.Debian.gz": gz(t, mainLog), doc + "changelog.Debian.arm64.gz": gz(t, binNMULog)}, want: mainLog},
		{name: "explicit name", pkg: "runc", version: "1.1.15+ds1-2", files: map[string]string{doc + "changelog.Debian.gz": gz(t, mainLog)}, want: mainLog},
		{name: "other package's doc dir", pkg: "other", version: "1.1.15+ds1-2", files: map[string]string{doc + "changelog.Debian.gz": gz(t, mainLog)}, noLog: true},
		{name: "native", version: "2024.1", files: map[string]string{doc + "changelog.gz": gz(t, mainLog)}, want: mainLog},
		{name: "Debian changelog.gz of a non-native package (linux-signed-amd64)", version: "1.1.15+ds1-2", files: map[string]string{doc + "changelog.gz": gz(t, mainLog)}, want: mainLog},
		{name: "upstream changelog of a non-native package", version: "1.1.15+ds1-2", files: map[string]string{doc + "changelog.gz": gz(t, "upstream news\n")}, noLog: true},
		{name: "doc dir symlink", version: "1.1.15+ds1-2", links: map[string]string{"./usr/share/doc/runc": "golang-runc-common"}, link: "golang-runc-common"},
		{name: "changelog symlink", version: "1.1.15+ds1-2", links: map[string]string{doc + "changelog.Debian.gz": "../libc6/changelog.Debian.gz"}, link: "../libc6/changelog.Debian.gz"},
		{name: "none", version: "1.1.15+ds1-2", files: map[string]string{doc + "copyright": "x"}, noLog: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := docsDeb(t, "runc", tt.version, tt.files, tt.links)
			got, err := Changelog(bytes.NewReader(b), tt.pkg, "")
			if tt.link != "" || tt.noLog {
				var ne *NoChangelogError
				if !errors.As(err, &ne) || !errors.Is(err, ErrNoChangelog) {
					t.Fatalf("Changelog() = %q, %v; want a *NoChangelogError", got, err)
				}
				if ne.Link != tt.link {
					t.Errorf("Link = %q, want %q", ne.Link, tt.link)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("Changelog() diff (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLinkedPackage(t *testing.T) {
	for link, want := range map[string]string{
		"":                               "",
		"libfoo-common":                  "libfoo-common",
		"../libfoo-common/":              "libfoo-common",
		"../libc6/changelog.Debian.gz":   "libc6",
		"/usr/share/doc/libfoo1/":        "libfoo1",
		"../libfoo1/changelog.Debian.gz": "libfoo1",
	} {
		if got := (&NoChangelogError{Package: "p", Link: link}).LinkedPackage(); got != want {
			t.Errorf("LinkedPackage(%q) = %q, want %q", link, got, want)
		}
	}
}

func TestReadDocs(t *testing.T) {
	const copyright = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
	b := docsDeb(t, "runc", "1.0-1", map[string]string{"./usr/share/doc/runc/copyright": copyright}, nil)
	d, err := ReadDocs(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if string(d.Copyright) != copyright || d.Control["Version"] != "1.0-1" {
		t.Errorf("ReadDocs() = copyright %q, control %q", d.Copyright, d.Control)
	}
	if d.Changelog != nil || !errors.Is(d.ChangelogErr, ErrNoChangelog) {
		t.Errorf("ReadDocs() changelog = %q, %v; want none", d.Changelog, d.ChangelogErr)
	}
	if _, err := ReadDocs(bytes.NewReader(b[:len(b)-10])); err == nil {
		t.Error("ReadDocs(truncated .deb) succeeded")
	}
}

// TestChangelogRealDeb compares Changelog on a real package with what
// dpkg-deb and gzip read out of it.
func TestChangelogRealDeb(t *testing.T) {
	dpkgDeb := testenv.Tool(t, "dpkg-deb", "dpkg")
	path := debtest.Download(t, "runc")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := Changelog(f, "", "")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(dpkgDeb, "--fsys-tarfile", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no changelog.Debian.gz in dpkg-deb's tar: %v", err)
		}
		if strings.HasSuffix(h.Name, "/usr/share/doc/runc/changelog.Debian.gz") {
			z, err := gzip.NewReader(tr)
			if err != nil {
				t.Fatal(err)
			}
			if want, err = io.ReadAll(z); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Changelog() = %d bytes starting %q, dpkg-deb gives %d starting %q", len(got), got[:min(len(got), 60)], len(want), want[:min(len(want), 60)])
	}
	if !bytes.HasPrefix(got, []byte("runc (")) {
		t.Errorf("changelog starts %q", got[:min(len(got), 60)])
	}
}

func FuzzReadDocs(f *testing.F) {
	f.Add(docsDeb(f, "runc", "1.0-1", map[string]string{"./usr/share/doc/runc/changelog.Debian.gz": gz(f, "x"), "./usr/share/doc/runc/copyright": "c"}, nil))
	f.Add(docsDeb(f, "runc", "1.0", map[string]string{"./usr/share/doc/runc/changelog.gz": "not gzip"}, map[string]string{"./usr/share/doc/runc": "x"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ReadDocs(bytes.NewReader(b))
		if err != nil {
			return
		}
		if (d.Changelog == nil) == (d.ChangelogErr == nil) {
			t.Errorf("ReadDocs() = changelog %q and error %v: want exactly one", d.Changelog, d.ChangelogErr)
		}
	})
}
