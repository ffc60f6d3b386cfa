package fstree

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hardenvm/hardenvm/internal/testenv"
	"golang.org/x/sys/unix"
)

var (
	epoch = time.Unix(1700000000, 0)
	root  = Header{Mode: 0o755, Mtime: epoch}
)

func mustTree(t *testing.T) *Tree {
	t.Helper()
	tr := New()
	if err := tr.MergeUsr(root); err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestMergedUsr(t *testing.T) {
	tr := mustTree(t)
	// A package that still ships /bin/sh and /lib64/ld.so: they land under /usr.
	if err := tr.Add("./bin/", &Node{Type: Dir, Mode: 0o700}); err != nil {
		t.Fatalf("Add(./bin/ dir) over the merged-/usr symlink: %v", err)
	}
	if _, err := tr.MkdirAll("./bin", root); err != nil {
		t.Fatalf("MkdirAll(./bin) over the merged-/usr symlink: %v", err)
	}
	if err := tr.WriteFile("./bin/busybox", Header{Mode: 0o755}, Bytes("bb")); err != nil {
		t.Fatal(err)
	}
	if err := tr.Symlink("busybox", "/bin/sh", root); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.MkdirAll("lib64/x/y", root); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/usr/bin/busybox", "/usr/bin/sh", "/usr/lib64/x/y"} {
		if _, err := tr.Lookup(p); err != nil {
			t.Errorf("Lookup(%s): %v", p, err)
		}
	}
	n, err := tr.Lookup("/bin")
	if err != nil || n.Type != Symlink || n.Target != "usr/bin" {
		t.Fatalf("/bin = %+v, %v; want symlink to usr/bin", n, err)
	}
	if s, err := tr.Stat("/bin/sh"); err != nil || string(s.Content.(Bytes)) != "bb" {
		t.Errorf("Stat(/bin/sh) = %+v, %v; want the busybox file", s, err)
	}
	var paths []string
	tr.Walk(func(p string, n *Node) error { paths = append(paths, p); return nil })
	want := []string{"/", "/bin", "/lib", "/lib64", "/sbin", "/usr", "/usr/bin", "/usr/bin/busybox", "/usr/bin/sh",
		"/usr/lib", "/usr/lib64", "/usr/lib64/x", "/usr/lib64/x/y", "/usr/sbin"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("walk (-want +got):\n%s", diff)
	}
	if err := tr.MergeUsr(root); err != nil {
		t.Errorf("MergeUsr twice: %v", err)
	}
	tr2 := New()
	tr2.MkdirAll("bin", root)
	if err := tr2.MergeUsr(root); err == nil {
		t.Error("MergeUsr over a real /bin directory succeeded")
	}
}

func TestMutations(t *testing.T) {
	tr := mustTree(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err := tr.MkdirAll("/etc/ssl", Header{Mode: 0o700})
	must(err)
	must(tr.WriteFile("/etc/passwd", Header{Mode: 0o644}, Bytes("root:x:0:0::/:/bin/sh\n")))
	must(tr.WriteFile("/usr/bin/ping", Header{Mode: 0o755}, Bytes("elf")))
	must(tr.Link("/usr/bin/ping", "/usr/bin/ping6"))
	must(tr.Chown("/usr/bin/ping6", 0, 42))
	must(tr.Chmod("/usr/bin/ping", 0o4755))
	c, err := ParseCapability("cap_net_raw=ep")
	must(err)
	must(tr.SetCapability("/usr/bin/ping", c))
	_, err = tr.MkdirAll("/dev", root)
	must(err)
	must(tr.Mknod("/dev/null", CharDevice, Header{Mode: 0o666}, 1, 3))
	must(tr.Remove("/etc/ssl"))

	got, err := tr.List(ListOptions{})
	must(err)
	var files []Entry
	for _, e := range got {
		if e.Path == "/usr/bin/ping" || e.Path == "/usr/bin/ping6" || e.Path == "/dev/null" || e.Path == "/etc/passwd" {
			e.Mtime = time.Time{}
			files = append(files, e)
		}
	}
	caps := map[string]string{XattrCapability: string(c.Encode())}
	want := []Entry{
		{Path: "/dev/null", Type: CharDevice, Mode: 0o666, Major: 1, Minor: 3},
		{Path: "/etc/passwd", Type: Regular, Mode: 0o644, Size: 22},
		{Path: "/usr/bin/ping", Type: Regular, Mode: 0o4755, GID: 42, Size: 3, Xattrs: caps, Link: 1},
		{Path: "/usr/bin/ping6", Type: Regular, Mode: 0o4755, GID: 42, Size: 3, Xattrs: caps, Link: 1},
	}
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("listing (-want +got):\n%s", diff)
	}
	if _, err := tr.Lookup("/etc/ssl"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Lookup after Remove: %v, want ErrNotExist", err)
	}
}

func TestErrors(t *testing.T) {
	tr := mustTree(t)
	tr.MkdirAll("/etc/a", root)
	tr.WriteFile("/etc/f", root, Bytes("x"))
	tr.Symlink("loop2", "/loop1", root)
	tr.Symlink("loop1", "/loop2", root)
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"dotdot", tr.WriteFile("/etc/../x", root, nil), ErrBadPath},
		{"nul", tr.WriteFile("/etc/x\x00y", root, nil), ErrBadPath},
		{"file over dir", tr.WriteFile("/etc/a", root, nil), ErrIsDir},
		{"parent missing", tr.WriteFile("/nope/x", root, nil), ErrNotExist},
		{"parent is a file", tr.WriteFile("/etc/f/x", root, nil), ErrNotDir},
		{"symlink loop", tr.WriteFile("/loop1/x", root, nil), ErrLoop},
		{"remove non-empty", tr.Remove("/etc"), ErrNotEmpty},
		{"remove missing", tr.Remove("/etc/zz"), ErrNotExist},
		{"link a dir", tr.Link("/etc", "/etc2"), ErrIsDir},
		{"mkdir over file", func() error { _, err := tr.MkdirAll("/etc/f", root); return err }(), ErrExist},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	if err := tr.Chmod("/etc/f", 0o10000); err == nil {
		t.Error("Chmod with a type bit succeeded")
	}
	if err := tr.SetXattr("/loop1", "user.x", []byte("y")); err == nil {
		t.Error("SetXattr(user.x) on a symlink succeeded")
	}
	if err := tr.SetXattr("/loop1", "trusted.x", []byte("y")); err != nil {
		t.Errorf("SetXattr(trusted.x) on a symlink: %v", err)
	}
	if err := tr.SetCapability("/etc", Capability{}); err == nil {
		t.Error("SetCapability on a directory succeeded")
	}
	// Replacing a file by a file and a dir by a dir are fine (dpkg keeps dirs).
	if err := tr.WriteFile("/etc/f", root, Bytes("y")); err != nil {
		t.Error(err)
	}
	if err := tr.Add("/etc/a", &Node{Type: Dir, Mode: 0o700}); err != nil {
		t.Error(err)
	}
	if n, _ := tr.Lookup("/etc/a"); n.Mode != 0o755 {
		t.Errorf("existing dir mode changed to %#o", n.Mode)
	}
	if err := tr.RemoveAll("/etc"); err != nil {
		t.Error(err)
	}
}

func TestCapability(t *testing.T) {
	id := uint32(100000)
	tests := []struct {
		text string
		want Capability
		str  string
	}{
		{"cap_net_raw=ep", Capability{Permitted: 1 << 13, Effective: true}, "cap_net_raw=ep"},
		{"CAP_NET_BIND_SERVICE,cap_net_admin+p", Capability{Permitted: 1<<10 | 1<<12}, "cap_net_bind_service,cap_net_admin=p"},
		{"cap_sys_time=i", Capability{Inheritable: 1 << 25}, "cap_sys_time=i"},
		{"all=p cap_bpf-p", Capability{Permitted: (1<<41 - 1) &^ (1 << 39)}, ""},
		{"cap_checkpoint_restore=eip", Capability{Permitted: 1 << 40, Inheritable: 1 << 40, Effective: true}, "cap_checkpoint_restore=eip"},
	}
	for _, tt := range tests {
		got, err := ParseCapability(tt.text)
		if err != nil {
			t.Errorf("ParseCapability(%q): %v", tt.text, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseCapability(%q) (-want +got):\n%s", tt.text, diff)
		}
		if tt.str != "" && got.String() != tt.str {
			t.Errorf("String() = %q, want %q", got.String(), tt.str)
		}
		dec, err := DecodeCapability(got.Encode())
		if err != nil || !cmp.Equal(dec, got) {
			t.Errorf("Decode(Encode(%v)) = %v, %v", got, dec, err)
		}
	}
	v3 := Capability{Permitted: 1 << 13, Effective: true, RootID: &id}
	if b := v3.Encode(); len(b) != 24 || b[3] != 3 {
		t.Errorf("v3 encoding = %x", b)
	}
	for _, bad := range []string{"", "cap_foo=p", "cap_net_raw", "cap_net_raw=x", "cap_net_raw=ep cap_net_admin=p"} {
		if _, err := ParseCapability(bad); err == nil {
			t.Errorf("ParseCapability(%q) succeeded", bad)
		}
	}
}

// TestCapabilityMatchesSetcap checks our encoding against libcap's setcap.
func TestCapabilityMatchesSetcap(t *testing.T) {
	setcap := testenv.Tool(t, "setcap", "libcap2-bin")
	testenv.Root(t)
	f := filepath.Join(t.TempDir(), "f")
	os.WriteFile(f, nil, 0o755)
	for _, text := range []string{"cap_net_raw=ep", "cap_net_bind_service,cap_sys_time+ip", "cap_bpf,cap_perfmon=p"} {
		if out, err := exec.Command(setcap, text, f).CombinedOutput(); err != nil {
			t.Fatalf("setcap %s: %v: %s", text, err, out)
		}
		buf := make([]byte, 64)
		n, err := unix.Getxattr(f, XattrCapability, buf)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseCapability(text)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(buf[:n], c.Encode()); diff != "" {
			t.Errorf("%s: setcap wrote %x, we encode %x", text, buf[:n], c.Encode())
		}
	}
}

func TestFromDir(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a/b"), 0o750)
	os.WriteFile(filepath.Join(dir, "a/f"), []byte("hello"), 0o640)
	os.Link(filepath.Join(dir, "a/f"), filepath.Join(dir, "a/b/g"))
	os.Symlink("../f", filepath.Join(dir, "a/b/l"))
	unix.Mkfifo(filepath.Join(dir, "fifo"), 0o600)
	tr, err := FromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tr.List(ListOptions{Digests: true})
	if err != nil {
		t.Fatal(err)
	}
	var short []string
	for _, e := range got {
		short = append(short, e.Path+" "+e.Type.String()+" "+e.Target+" "+e.SHA256[:min(8, len(e.SHA256))]+" "+string(rune('0'+e.Link)))
	}
	want := []string{
		"/ dir   0", "/a dir   0", "/a/b dir   0", "/a/b/g file  2cf24dba 1", "/a/b/l symlink ../f  0",
		"/a/f file  2cf24dba 1", "/fifo fifo   0",
	}
	if diff := cmp.Diff(want, short); diff != "" {
		t.Errorf("FromDir listing (-want +got):\n%s", diff)
	}
}
