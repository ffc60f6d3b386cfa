package shim

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hardenvm/hardenvm/internal/testenv"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestFindOverlay(t *testing.T) {
	info := `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
78 58 0:28 / /var/lib/docker/overlay2/abc/merged rw,relatime - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/Q5J:/var/lib/docker/overlay2/l/B6Z,upperdir=/var/lib/docker/overlay2/abc/diff,workdir=/var/lib/docker/overlay2/abc/work,index=off,userxattr
79 58 0:29 / /with\040space rw - overlay overlay rw,lowerdir=/a\040b,upperdir=/u,workdir=/w
80 58 0:30 / /plain rw - tmpfs tmpfs rw
`
	tests := []struct {
		name, dir string
		want      overlayMount
		ok        bool
	}{
		{"docker", "/var/lib/docker/overlay2/abc/merged", overlayMount{
			lower: []string{"/var/lib/docker/overlay2/l/Q5J", "/var/lib/docker/overlay2/l/B6Z"},
			upper: "/var/lib/docker/overlay2/abc/diff", work: "/var/lib/docker/overlay2/abc/work",
			otherOptions: []string{"index=off", "userxattr"}}, true},
		{"escaped", "/with space", overlayMount{lower: []string{"/a b"}, upper: "/u", work: "/w"}, true},
		{"not overlay", "/plain", overlayMount{}, false},
		{"not mounted", "/nowhere", overlayMount{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := findOverlay(strings.NewReader(info), tt.dir)
			if err != nil || ok != tt.ok {
				t.Fatalf("findOverlay(%s) = %v, %v, want ok %v", tt.dir, ok, err, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(overlayMount{})); ok && diff != "" {
				t.Errorf("diff (-want +got):\n%s", diff)
			}
		})
	}
}

// TestIdmapOverlay mounts an overlay as the engine does and prepares it
// as a container's rootfs: the shim's overlay has ID-mapped layers, so a
// file the VM's root writes through the engine's mount (docker cp) shows
// as the container root's, and the layers' owners on disk stay 0.
func TestIdmapOverlay(t *testing.T) {
	testenv.Root(t)
	dir := t.TempDir()
	for _, d := range []string{"lower/bin", "layer/diff", "layer/work", "layer/merged", "state"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	os.WriteFile(filepath.Join(dir, "lower/bin/tool"), []byte("x"), 0o755)
	merged := filepath.Join(dir, "layer/merged")
	opts := "lowerdir=" + filepath.Join(dir, "lower") + ",upperdir=" + filepath.Join(dir, "layer/diff") + ",workdir=" + filepath.Join(dir, "layer/work")
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Skipf("overlay mount: %v", err)
	}
	defer unix.Unmount(merged, unix.MNT_DETACH)
	spec := &specs.Spec{Root: &specs.Root{Path: merged}}
	m, err := prepareMounts(spec, dir, filepath.Join(dir, "state", "c1"), "idmap", 200000, 65536)
	if err != nil {
		t.Fatal(err)
	}
	defer m.release()
	if m.method != "idmap-overlay" {
		t.Fatalf("method %q, want idmap-overlay", m.method)
	}
	owner := func(p string) uint32 {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		return st.Uid
	}
	if got := owner(filepath.Join(spec.Root.Path, "bin/tool")); got != 200000 {
		t.Errorf("an image file seen through the container's rootfs: owner %d, want 200000 (the container's root)", got)
	}
	// The engine copies a file in through its own mount, as the VM's root.
	if err := os.WriteFile(filepath.Join(merged, "copied"), []byte("cp"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := owner(filepath.Join(spec.Root.Path, "copied")); got != 200000 {
		t.Errorf("a file the engine copied in: owner %d in the container's rootfs, want 200000", got)
	}
	if got := owner(filepath.Join(dir, "lower/bin/tool")); got != 0 {
		t.Errorf("the image layer on disk: owner %d, want 0 (untouched)", got)
	}
	// The container's root writes a file: on disk it is 0's. (The
	// rootfs is opened first: the test's directories are 0700.)
	rootFD, err := unix.Open(spec.Root.Path, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rootFD)
	unix.Setfsuid(200000)
	unix.Setfsgid(200000)
	fd, werr := unix.Openat(rootFD, "written", unix.O_CREAT|unix.O_WRONLY, 0o644)
	unix.Setfsuid(0)
	unix.Setfsgid(0)
	if werr != nil {
		t.Fatalf("write as the container's root: %v", werr)
	}
	unix.Close(fd)
	if got := owner(filepath.Join(dir, "layer/diff/written")); got != 0 {
		t.Errorf("a file the container's root wrote: owner %d on disk, want 0", got)
	}
}

// TestMakeMountPoints makes a read-only rootfs's missing mount points
// inside it: a symlink in the image cannot send them elsewhere.
func TestMakeMountPoints(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	os.Symlink(outside, filepath.Join(root, "escape"))
	file := filepath.Join(t.TempDir(), "init")
	os.WriteFile(file, nil, 0o755)
	spec := &specs.Spec{Mounts: []specs.Mount{
		{Destination: "/proc", Type: "proc"},
		{Destination: "/proc/sys", Type: "bind", Source: t.TempDir()}, // inside /proc: not made
		{Destination: "/data/vol", Type: "bind", Source: t.TempDir()},
		{Destination: "/sbin/docker-init", Type: "bind", Source: file},
		{Destination: "/escape/x", Type: "bind", Source: t.TempDir()},
	}}
	if err := makeMountPoints(root, spec); err != nil {
		t.Fatal(err)
	}
	for p, dir := range map[string]bool{"proc": true, "data/vol": true, "sbin/docker-init": false} {
		fi, err := os.Stat(filepath.Join(root, p))
		if err != nil || fi.IsDir() != dir {
			t.Errorf("%s: %v, want directory %v", p, err, dir)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "proc/sys")); err == nil {
		t.Errorf("proc/sys made inside a mount")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("a mount point was made outside the rootfs, through the image's symlink: %v", ents)
	}
}
