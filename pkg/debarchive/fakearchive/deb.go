package fakearchive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"testing"
)

// Deb is a minimal real .deb of a package (control file, and in its data
// the package's Debian changelog), for tests that read what a package
// says about itself.
func Deb(t testing.TB, name, version, changelog string) []byte {
	t.Helper()
	var cl bytes.Buffer
	zw := gzip.NewWriter(&cl)
	zw.Write([]byte(changelog))
	zw.Close()
	doc := "./usr/share/doc/" + name + "/"
	control := tgz(t, map[string][]byte{"./control": fmt.Appendf(nil, "Package: %s\nVersion: %s\nArchitecture: amd64\n", name, version)}, nil)
	data := tgz(t, map[string][]byte{doc + "changelog.Debian.gz": cl.Bytes()}, []string{"./", "./usr/", "./usr/share/", "./usr/share/doc/", doc})
	var b bytes.Buffer
	b.WriteString("!<arch>\n")
	for _, m := range []struct {
		name string
		data []byte
	}{{"debian-binary", []byte("2.0\n")}, {"control.tar.gz", control}, {"data.tar.gz", data}} {
		fmt.Fprintf(&b, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.name, 0, 0, 0, "100644", len(m.data))
		b.Write(m.data)
		if len(m.data)%2 == 1 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// tgz is a gzipped tar of dirs, then files (one file in every use here).
func tgz(t testing.TB, files map[string][]byte, dirs []string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	for _, d := range dirs {
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, Format: tar.FormatGNU}); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), Format: tar.FormatGNU}); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return b.Bytes()
}
