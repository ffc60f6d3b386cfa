package debpkg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hardenvm/hardenvm/internal/debtest"
	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/fstree"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

var mtime = time.Unix(1714000000, 0)

// member is one ar member of a synthetic .deb.
type member struct {
	name string
	data []byte
}

func arBytes(members ...member) []byte {
	var b bytes.Buffer
	b.WriteString(arMagic)
	for _, m := range members {
		fmt.Fprintf(&b, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", m.name, 0, 0, 0, "100644", len(m.data))
		b.Write(m.data)
		if len(m.data)%2 == 1 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func tarBytes(t testing.TB, hdrs []*tar.Header, bodies map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range hdrs {
		body := bodies[h.Name]
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if h.ModTime.IsZero() {
			h.ModTime = mtime
		}
		if h.Format == tar.FormatUnknown {
			h.Format = tar.FormatGNU
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func compress(t testing.TB, data []byte, suffix string) []byte {
	t.Helper()
	var b bytes.Buffer
	var w io.WriteCloser
	var err error
	switch suffix {
	case "":
		return data
	case ".gz":
		w = gzip.NewWriter(&b)
	case ".xz":
		w, err = xz.NewWriter(&b)
	case ".zst":
		w, err = zstd.NewWriter(&b)
	default:
		t.Fatalf("no compressor for %q", suffix)
	}
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func controlTar(t testing.TB, scripts ...string) []byte {
	hdrs := []*tar.Header{{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}, {Name: "./control", Typeflag: tar.TypeReg, Mode: 0o644}}
	bodies := map[string]string{"./control": "Package: hello\nVersion: 1.0-1\nArchitecture: amd64\nDescription: greets\n a long\n .\n description\n"}
	for _, s := range scripts {
		hdrs = append(hdrs, &tar.Header{Name: "./" + s, Typeflag: tar.TypeReg, Mode: 0o755})
		bodies["./"+s] = "#!/bin/sh\nexit 1\n"
	}
	return tarBytes(t, hdrs, bodies)
}

// sampleData is a data.tar with what real packages hold, plus a PAX xattr.
func sampleData(t testing.TB) []byte {
	capv := fstree.Capability{Permitted: 1 << 13, Effective: true}
	hdrs := []*tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./bin/hello", Typeflag: tar.TypeReg, Mode: 0o755},
		{Name: "./usr/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./usr/bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./usr/bin/su", Typeflag: tar.TypeReg, Mode: 0o4755, Uid: 0, Gid: 0},
		{Name: "./usr/bin/chage", Typeflag: tar.TypeReg, Mode: 0o2755, Gid: 42, Gname: "shadow"},
		{Name: "./usr/bin/ping", Typeflag: tar.TypeReg, Mode: 0o755, Format: tar.FormatPAX,
			PAXRecords: map[string]string{"SCHILY.xattr.security.capability": string(capv.Encode())}},
		{Name: "./usr/bin/hello2", Typeflag: tar.TypeLink, Linkname: "./bin/hello"},
		{Name: "./usr/bin/hi", Typeflag: tar.TypeSymlink, Linkname: "hello2"},
		{Name: "./tmp/", Typeflag: tar.TypeDir, Mode: 0o1777},
	}
	return tarBytes(t, hdrs, map[string]string{"./bin/hello": "#!/bin/sh\necho hello\n", "./usr/bin/su": "su", "./usr/bin/chage": "chage", "./usr/bin/ping": "ping"})
}

func deb(t testing.TB, data []byte, comp string, scripts ...string) []byte {
	return arBytes(
		member{"debian-binary", []byte("2.0\n")},
		member{"control.tar" + comp, compress(t, controlTar(t, scripts...), comp)},
		member{"data.tar" + comp, compress(t, data, comp)},
	)
}

func TestUnpack(t *testing.T) {
	for _, comp := range []string{"", ".gz", ".xz", ".zst"} {
		t.Run("data.tar"+comp, func(t *testing.T) {
			tr := fstree.New()
			if err := tr.MergeUsr(fstree.Header{Mtime: mtime}); err != nil {
				t.Fatal(err)
			}
			info, err := Unpack(bytes.NewReader(deb(t, sampleData(t), comp, "postinst", "prerm")), tr, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if info.Control["Package"] != "hello" || info.Control["Description"] != "greets\na long\n.\ndescription" {
				t.Errorf("control = %q", info.Control)
			}
			if diff := cmp.Diff([]string{"postinst", "prerm"}, info.Scripts); diff != "" {
				t.Errorf("scripts (-want +got):\n%s", diff)
			}
			l, err := tr.List(fstree.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, e := range l {
				got[e.Path] = fmt.Sprintf("%s %#o %d:%d %d %s link%d %q", e.Type, e.Mode, e.UID, e.GID, e.Size, e.Target, e.Link, e.Xattrs)
			}
			capx := `map["security.capability":"\x01\x00\x00\x02\x00 \x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"]`
			want := map[string]string{
				"/bin":            "symlink 0777 0:0 7 usr/bin link0 map[]",
				"/usr/bin/hello":  "file 0755 0:0 21  link1 map[]",
				"/usr/bin/hello2": "file 0755 0:0 21  link1 map[]",
				"/usr/bin/hi":     "symlink 0777 0:0 6 hello2 link0 map[]",
				"/usr/bin/su":     "file 04755 0:0 2  link0 map[]",
				"/usr/bin/chage":  "file 02755 0:42 5  link0 map[]",
				"/usr/bin/ping":   "file 0755 0:0 4  link0 " + capx,
				"/tmp":            "dir 01777 0:0 0  link0 map[]",
				"/usr/bin":        "dir 0755 0:0 0  link0 map[]",
				"/usr/lib64":      "dir 0755 0:0 0  link0 map[]",
				"/usr":            "dir 0755 0:0 0  link0 map[]",
				"/":               "dir 0755 0:0 0  link0 map[]",
				"/lib":            "symlink 0777 0:0 7 usr/lib link0 map[]",
				"/lib64":          "symlink 0777 0:0 9 usr/lib64 link0 map[]",
				"/sbin":           "symlink 0777 0:0 8 usr/sbin link0 map[]",
				"/usr/lib":        "dir 0755 0:0 0  link0 map[]",
				"/usr/sbin":       "dir 0755 0:0 0  link0 map[]",
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOwnerMapping(t *testing.T) {
	tr := fstree.New()
	tr.MergeUsr(fstree.Header{})
	_, err := Unpack(bytes.NewReader(deb(t, sampleData(t), ".gz")), tr, Options{
		Owner: func(u, g string, uid, gid int) (uint32, uint32, error) {
			if g == "shadow" {
				return uint32(uid), 999, nil
			}
			return uint32(uid), uint32(gid), nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := tr.Lookup("/usr/bin/chage"); n == nil || n.GID != 999 {
		t.Errorf("chage = %+v, want gid 999 from the Owner hook", n)
	}
}

func TestRefuses(t *testing.T) {
	dev := tarBytes(t, []*tar.Header{
		{Name: "./dev/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./dev/sda", Typeflag: tar.TypeBlock, Mode: 0o660, Devmajor: 8, Devminor: 0},
	}, nil)
	escape := tarBytes(t, []*tar.Header{{Name: "./../../etc/passwd", Typeflag: tar.TypeReg, Mode: 0o644}}, nil)
	noParent := tarBytes(t, []*tar.Header{{Name: "./nope/x", Typeflag: tar.TypeReg, Mode: 0o644}}, nil)
	good := compress(t, sampleData(t), ".gz")
	ctl := compress(t, controlTar(t), ".gz")
	tests := []struct {
		name string
		deb  []byte
		want string
	}{
		{"device node", deb(t, dev, ".gz"), "./dev/sda: device node or FIFO in a package: refused"},
		{"dotdot", deb(t, escape, ".xz"), `invalid path: ".." component`},
		{"missing parent", deb(t, noParent, ""), "./nope/x"},
		{"not ar", []byte("PK\x03\x04"), "not an ar archive"},
		{"format 3", arBytes(member{"debian-binary", []byte("3.0\n")}), `format version "3.0"`},
		{"wrong order", arBytes(member{"debian-binary", []byte("2.0\n")}, member{"data.tar.gz", good}), `"data.tar.gz" where control.tar`},
		{"no data", arBytes(member{"debian-binary", []byte("2.0\n")}, member{"control.tar.gz", ctl}), "no data.tar member"},
		{"lzma", arBytes(member{"debian-binary", []byte("2.0\n")}, member{"control.tar.gz", ctl}, member{"data.tar.lzma", good}), `unsupported compression ".lzma"`},
		{"truncated", deb(t, sampleData(t), ".gz")[:600], "data.tar.gz"},
		{"corrupt xz", append(deb(t, sampleData(t), ".xz")[:300], make([]byte, 400)...), ".xz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Unpack(bytes.NewReader(tt.deb), fstree.New(), Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Unpack: %v, want an error containing %q", err, tt.want)
			}
		})
	}
	tr := fstree.New()
	if _, err := Unpack(bytes.NewReader(deb(t, dev, ".gz")), tr, Options{AllowDevice: func(p string) bool { return p == "./dev/sda" }}); err != nil {
		t.Fatalf("declared device refused: %v", err)
	}
	if n, err := tr.Lookup("/dev/sda"); err != nil || n.Type != fstree.BlockDevice || n.Major != 8 {
		t.Errorf("/dev/sda = %+v, %v", n, err)
	}
}

// TestRealDeb unpacks a real Debian package and compares every entry with
// what dpkg-deb itself reads out of it.
func TestRealDeb(t *testing.T) {
	dpkgDeb := testenv.Tool(t, "dpkg-deb", "dpkg")
	path := debtest.Download(t, "busybox-static")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := fstree.New()
	info, err := Unpack(f, tr, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Control["Package"] != "busybox-static" {
		t.Errorf("Package = %q", info.Control["Package"])
	}

	// dpkg-deb does the ar and decompression; the standard library's tar
	// reader lists the result.
	out, err := exec.Command(dpkgDeb, "--fsys-tarfile", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	var want, got []string
	r := tar.NewReader(bytes.NewReader(out))
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := "/" + strings.Trim(strings.TrimPrefix(h.Name, "."), "/")
		sum := sha256.New()
		io.Copy(sum, r)
		line := fmt.Sprintf("%s %c %#o %d:%d %d %q", p, h.Typeflag, h.Mode&0o7777, h.Uid, h.Gid, h.Size, h.Linkname)
		if h.Typeflag == tar.TypeReg {
			line += " " + hex.EncodeToString(sum.Sum(nil))
		}
		want = append(want, line)
	}
	l, err := tr.List(fstree.ListOptions{Digests: true})
	if err != nil {
		t.Fatal(err)
	}
	typ := map[fstree.Type]byte{fstree.Regular: tar.TypeReg, fstree.Dir: tar.TypeDir, fstree.Symlink: tar.TypeSymlink}
	for _, e := range l {
		size, mode := e.Size, e.Mode
		if e.Type == fstree.Symlink {
			size, mode = 0, 0o777
		}
		line := fmt.Sprintf("%s %c %#o %d:%d %d %q", e.Path, typ[e.Type], mode, e.UID, e.GID, size, e.Target)
		if e.Type == fstree.Regular {
			line += " " + e.SHA256
		}
		got = append(got, line)
	}
	// The tar's symlinks carry mode 0777 and size 0; its root "./" is the
	// tree's root (skipped by Unpack): compare its line only by path.
	for i := range want {
		if strings.Contains(want[i], " 2 ") {
			want[i] = strings.Replace(want[i], strings.Fields(want[i])[2], "0777", 1)
		}
	}
	if len(want) > 0 && strings.HasPrefix(want[0], "/ ") {
		want[0], got[0] = "/", "/"
	}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tree vs dpkg-deb --fsys-tarfile (-dpkg +tree):\n%s", diff)
	}
	if len(want) < 10 {
		t.Errorf("only %d entries: not the busybox package?", len(want))
	}
}

func FuzzUnpack(f *testing.F) {
	for _, comp := range []string{"", ".gz", ".xz", ".zst"} {
		f.Add(deb(f, sampleData(f), comp, "postinst"))
	}
	f.Add(arBytes(member{"debian-binary", []byte("2.0\n")}))
	f.Add([]byte(arMagic + "debian-binary   0           0     0     100644  4         `\n2.0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr := fstree.New()
		tr.MergeUsr(fstree.Header{})
		info, err := Unpack(bytes.NewReader(b), tr, Options{AllowDevice: func(string) bool { return true }})
		if err != nil {
			return
		}
		if info.Control["Package"] == "" {
			t.Errorf("success without a Package field: %q", info.Control)
		}
		if _, err := tr.List(fstree.ListOptions{Digests: true}); err != nil {
			t.Errorf("unpacked tree does not list: %v", err)
		}
	})
}
