package erofs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/fstree"
)

// TestReaderRoundTrip reads back every regular file of the sample tree
// (plain, inline and empty data, many-block directories, xattrs, extended
// inodes) from the image Write made.
func TestReaderRoundTrip(t *testing.T) {
	tr := sampleTree(t)
	var img memImage
	if _, err := Write(&img, tr, Options{Epoch: epoch}); err != nil {
		t.Fatal(err)
	}
	rd, err := NewReader(bytes.NewReader(img.b), int64(len(img.b)))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range want(t, tr) {
		if e.Type != fstree.Regular {
			continue
		}
		b, err := rd.ReadFile(e.Path, 16<<20)
		if err != nil {
			t.Fatalf("ReadFile(%s): %v", e.Path, err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != e.SHA256 {
			t.Errorf("ReadFile(%s): %d bytes with another digest than the tree's", e.Path, len(b))
		}
		n++
	}
	t.Logf("read %d files back", n)
	for _, tt := range []struct{ path, want string }{
		{"etc/missing", "no such file"},
		{"etc/future/x", "no such file"},
		{"usr/bin/sh", "not a regular file"},
		{"etc", "not a regular file"},
		{"../etc/future", "plain relative path"},
	} {
		if _, err := rd.ReadFile(tt.path, 1<<20); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ReadFile(%s) = %v, want an error containing %q", tt.path, err, tt.want)
		}
	}
	if _, err := rd.ReadFile("var/lib/big/f12345", 100); err == nil {
		t.Error("ReadFile beyond max succeeded")
	}
	if _, err := rd.ReadFile("etc/missing", 10); !errors.Is(err, ErrNotExist) {
		t.Errorf("ReadFile(missing) = %v, want ErrNotExist", err)
	}
}

// TestReaderMkfsErofs reads an image made by the peer, mkfs.erofs
// (uncompressed, its own inline layout decisions).
func TestReaderMkfsErofs(t *testing.T) {
	mkfs := testenv.Tool(t, "mkfs.erofs", "erofs-utils")
	src := t.TempDir()
	files := map[string]string{
		"admin-settings.json": `{"configurationFileVersion":2}` + "\n",
		"tls/ca.pem":          strings.Repeat("pem line\n", 1000),
		"a/b/c/d":             strings.Repeat("x", 4096),
	}
	for p, c := range files {
		os.MkdirAll(filepath.Join(src, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(src, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(t.TempDir(), "peer.erofs")
	run(t, mkfs, "--quiet", img, src)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	for p, c := range files {
		got, err := rd.ReadFile(p, 1<<20)
		if err != nil || string(got) != c {
			t.Errorf("ReadFile(%s) = %d bytes, %v; want the %d bytes written", p, len(got), err, len(c))
		}
	}
}

// FuzzReader: any bytes give an answer or an error, never a panic or an
// unbounded allocation.
func FuzzReader(f *testing.F) {
	tr := fstree.New()
	tr.Root().Mode = 0o755
	tr.WriteFile("admin-settings.json", fstree.Header{Mode: 0o644}, fstree.Bytes(`{"configurationFileVersion":2}`))
	var img memImage
	if _, err := Write(&img, tr, Options{Epoch: epoch}); err != nil {
		f.Fatal(err)
	}
	f.Add(img.b)
	f.Fuzz(func(t *testing.T, b []byte) {
		rd, err := NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		rd.ReadFile("admin-settings.json", 1<<20)
		rd.ReadFile("a/b", 1<<20)
	})
}
