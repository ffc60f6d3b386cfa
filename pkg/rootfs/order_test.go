package rootfs

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/pkg/fstree"
)

// tinyDeb is a .deb (gzip members) whose data.tar holds ./etc/ and one
// file ./etc/owner with the given contents.
func tinyDeb(t *testing.T, name, owner string) []byte {
	t.Helper()
	tgz := func(files map[string]string, order ...string) []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		tw := tar.NewWriter(zw)
		for _, n := range order {
			h := &tar.Header{Name: n, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(files[n]))}
			if strings.HasSuffix(n, "/") {
				h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
			}
			tw.WriteHeader(h)
			io.WriteString(tw, files[n])
		}
		tw.Close()
		zw.Close()
		return b.Bytes()
	}
	var ar bytes.Buffer
	ar.WriteString("!<arch>\n")
	for _, m := range []struct {
		name string
		data []byte
	}{
		{"debian-binary", []byte("2.0\n")},
		{"control.tar.gz", tgz(map[string]string{"./control": "Package: " + name + "\n"}, "./control")},
		{"data.tar.gz", tgz(map[string]string{"./etc/owner": owner}, "./etc/", "./etc/owner")},
	} {
		fmt.Fprintf(&ar, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.name, 0, 0, 0, "100644", len(m.data))
		ar.Write(m.data)
		if len(m.data)%2 == 1 {
			ar.WriteByte('\n')
		}
	}
	return ar.Bytes()
}

func debOf(name string, b []byte) Deb {
	return Deb{Name: name, Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
}

// TestUnpackOrder: packages are read in parallel but applied in the order
// given, so the last one to ship a file wins, every time; a broken package
// is named.
func TestUnpackOrder(t *testing.T) {
	var debs []Deb
	for i := range 12 {
		name := fmt.Sprintf("pkg%02d", i)
		debs = append(debs, debOf(name, tinyDeb(t, name, name)))
	}
	for range 5 {
		tr, infos, err := Unpack(debs, UnpackOptions{Epoch: epoch})
		if err != nil {
			t.Fatal(err)
		}
		n, err := tr.Lookup("/etc/owner")
		if err != nil {
			t.Fatal(err)
		}
		if got := string(n.Content.(fstree.Bytes)); got != "pkg11" {
			t.Fatalf("/etc/owner from %q, want the last package", got)
		}
		for i, info := range infos {
			if want := fmt.Sprintf("pkg%02d", i); info.Control["Package"] != want {
				t.Fatalf("infos[%d] is %q, want %q", i, info.Control["Package"], want)
			}
		}
	}
	broken := append(debs[:3:3], debOf("broken", []byte("!<arch>\nnot really")), debs[4])
	if _, _, err := Unpack(broken, UnpackOptions{Epoch: epoch}); err == nil || !strings.Contains(err.Error(), "reading broken") {
		t.Errorf("Unpack with a broken package: %v, want an error naming it", err)
	}
}
