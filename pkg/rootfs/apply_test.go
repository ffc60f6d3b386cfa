package rootfs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hardenvm/hardenvm/internal/debtest"
	"github.com/hardenvm/hardenvm/pkg/fstree"
	"github.com/hardenvm/hardenvm/pkg/imagespec"
)

func TestApplyMinimal(t *testing.T) {
	s, err := imagespec.Load("../../images/minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	deb := debtest.Download(t, "busybox-static")
	tr, _, err := Unpack([]Deb{{Name: "busybox-static", Open: func() (io.ReadCloser, error) { return os.Open(deb) }}}, UnpackOptions{Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply(tr, s, epoch); err != nil {
		t.Fatal(err)
	}
	l, err := tr.List(fstree.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range l {
		got[e.Path] = fmt.Sprintf("%s %o %d:%d %s", e.Type, e.Mode, e.UID, e.GID, e.Target)
	}
	for p, want := range map[string]string{
		"/tmp":             "dir 1777 0:0 ",
		"/proc":            "dir 555 0:0 ",
		"/root":            "dir 700 0:0 ",
		"/home/console":    "dir 755 1000:1000 ",
		"/etc/hostname":    "file 644 0:0 ",
		"/etc/passwd":      "file 644 0:0 ",
		"/etc/shadow":      "file 600 0:0 ",
		"/usr/bin/sh":      "symlink 777 0:0 busybox",
		"/bin":             "symlink 777 0:0 usr/bin",
		"/usr/bin/busybox": "file 755 0:0 ",
	} {
		if got[p] != want {
			t.Errorf("%s = %q, want %q", p, got[p], want)
		}
	}
	n, _ := tr.Lookup("/etc/passwd")
	if diff := cmp.Diff("root:x:0:0:root:/root:/bin/sh\nconsole:x:1000:1000:console:/home/console:/bin/sh\n", string(n.Content.(fstree.Bytes))); diff != "" {
		t.Errorf("/etc/passwd (-want +got):\n%s", diff)
	}
	// Everything the spec made is stamped with the epoch.
	if n, _ := tr.Lookup("/home/console"); !n.Mtime.Equal(epoch) {
		t.Errorf("/home/console mtime %v, want %v", n.Mtime, epoch)
	}
}

func TestApplyCapsAndSources(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "motd"), []byte("hello from a file\n"), 0o600)
	p := filepath.Join(dir, "t.yml")
	s, err := imagespec.Parse(p, []byte(`name: t
packages: [busybox-static]
kernel: {package: linux-image-cloud-amd64}
groups: [{name: shadow, gid: 42}, {name: staff, gid: 50}]
users: [{name: svc, uid: 999, group: staff}]
files:
  - {path: /usr/bin/pinger, contents: "elf", mode: "4755", owner: svc}
  - {path: /etc/motd, source: motd}
symlinks: [{path: /usr/bin/ping, target: pinger}]
capabilities: [{path: /bin/ping, caps: "cap_net_raw=ep"}]
`))
	if err != nil {
		t.Fatal(err)
	}
	tr, _, err := Unpack(nil, UnpackOptions{Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply(tr, s, epoch); err != nil {
		t.Fatal(err)
	}
	n, err := tr.Lookup("/usr/bin/pinger")
	if err != nil {
		t.Fatal(err)
	}
	c, err := fstree.DecodeCapability(n.Xattrs[fstree.XattrCapability])
	if err != nil || c.String() != "cap_net_raw=ep" || n.Mode != 0o4755 || n.UID != 999 {
		t.Errorf("pinger: caps %v (%v), mode %#o, uid %d", c, err, n.Mode, n.UID)
	}
	if n, _ := tr.Lookup("/etc/motd"); string(n.Content.(fstree.Bytes)) != "hello from a file\n" {
		t.Errorf("/etc/motd = %q", n.Content)
	}
	if n, _ := tr.Lookup("/etc/shadow"); n.Mode != 0o640 || n.GID != 42 {
		t.Errorf("/etc/shadow mode %#o gid %d, want 0640 root:shadow", n.Mode, n.GID)
	}

	s.Capabilities[0].Path = "/etc"
	if err := Apply(tr, s, epoch); err == nil || !strings.Contains(err.Error(), p+":10: capabilities of /etc: is a dir") {
		t.Errorf("caps on a directory: %v", err)
	}
}

func TestCheckGuest(t *testing.T) {
	tr := fstree.New()
	h := fstree.Header{Mode: 0o755}
	tr.MkdirAll("/usr/bin", h)
	tr.WriteFile("/usr/bin/prog", h, fstree.Bytes("#!"))
	tr.WriteFile("/usr/bin/data", fstree.Header{Mode: 0o644}, fstree.Bytes("x"))
	tr.Symlink("prog", "/usr/bin/link", fstree.Header{})
	tests := []struct{ command, want string }{
		{"/usr/bin/prog", ""},
		{"/usr/bin/link", ""},
		{"/usr/bin/missing", "s.yml:5: service svc: command /usr/bin/missing is not in the image (add its package, or a file entry)"},
		{"/usr/bin/data", "s.yml:5: service svc: command /usr/bin/data is not executable (mode 0644)"},
		{"/usr/bin", "s.yml:5: service svc: command /usr/bin is a dir, not a program"},
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			s, err := imagespec.Parse("s.yml", []byte("name: t\npackages: [busybox-static]\nkernel: {package: linux-image-amd64}\nservices:\n  - {name: svc, command: "+tt.command+"}\n"))
			if err != nil {
				t.Fatal(err)
			}
			err = CheckGuest(tr, s)
			if got := fmt.Sprint(err); (tt.want == "" && err != nil) || (tt.want != "" && got != tt.want) {
				t.Errorf("CheckGuest = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestApplySourceBounded: a source file over MaxSourceFile (a sparse
// 1 TiB file) or one that is not a regular file (swapped for a FIFO after
// the spec was checked) is refused at once, not read into memory.
func TestApplySourceBounded(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	os.WriteFile(big, nil, 0o644)
	if err := os.Truncate(big, 1<<40); err != nil {
		t.Skipf("no sparse 1 TiB file here: %v", err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ source, want string }{{big, "more than the"}, {fifo, "not a regular file"}} {
		s := &imagespec.Spec{Path: filepath.Join(dir, "t.yml"), Dir: dir, Files: []imagespec.File{{Path: "/etc/x", Source: tt.source, Line: 3}}}
		tr, _, err := Unpack(nil, UnpackOptions{Epoch: epoch})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = Apply(tr, s, epoch)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), ":3: file /etc/x") {
			t.Errorf("Apply(source %s) = %v, want an error at line 3 containing %q", filepath.Base(tt.source), err, tt.want)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("Apply(source %s) took %v", filepath.Base(tt.source), took)
		}
	}
}
