// Package qemuimgtest checks disk images against qemu-img (Debian's
// qemu-utils), the peer of our qcow2 and VHDX writers, and makes the
// sparse raw disks they are written from. For tests only.
package qemuimgtest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hardenvm/hardenvm/internal/testenv"
)

// Extent is a run of non-zero bytes in a raw disk: Len bytes of Fill at
// Off.
type Extent struct {
	Off  int64
	Len  int
	Fill byte
}

// Raw writes a sparse raw disk of size bytes holding the extents into the
// test's temporary directory and returns its path.
func Raw(t testing.TB, size int64, extents ...Extent) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for _, e := range extents {
		b := make([]byte, e.Len)
		for i := range b {
			b[i] = e.Fill + byte(i%7) // not one repeated byte: offsets matter
		}
		if _, err := f.WriteAt(b, e.Off); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// Check runs qemu-img check on img (format qcow2 or vhdx), compares its
// contents with the raw disk raw, and checks the format and virtual size
// qemu-img info reports.
func Check(t testing.TB, img, format, raw string) {
	t.Helper()
	qemuImg := testenv.Tool(t, "qemu-img", "qemu-utils")
	run := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command(qemuImg, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("qemu-img %v: %v\n%s", args, err, out)
		}
		return out
	}
	run("check", "-f", format, img)
	run("compare", "-f", "raw", "-F", format, raw, img)
	var info struct {
		Format      string `json:"format"`
		VirtualSize int64  `json:"virtual-size"`
	}
	if err := json.Unmarshal(run("info", "-f", format, "--output=json", img), &info); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(raw)
	if err != nil {
		t.Fatal(err)
	}
	if info.Format != format || info.VirtualSize != st.Size() {
		t.Errorf("qemu-img info %s: format %s, virtual size %d; want %s, %d", img, info.Format, info.VirtualSize, format, st.Size())
	}
}
