package rootfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hardenvm/hardenvm/internal/debtest"
	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/fstree"
)

var epoch = time.Unix(1735689600, 0)

func busyboxTree(t *testing.T, deb string) *fstree.Tree {
	t.Helper()
	tr, infos, err := Unpack([]Deb{{Name: "busybox-static", Open: func() (io.ReadCloser, error) { return os.Open(deb) }}},
		UnpackOptions{Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	if infos[0].Control["Package"] != "busybox-static" {
		t.Fatalf("unpacked %q", infos[0].Control["Package"])
	}
	// What a spec adds on top: a directory, a file with an owner, a capability.
	if _, err := tr.MkdirAll("etc", fstree.Header{Mode: 0o755, Mtime: epoch}); err != nil {
		t.Fatal(err)
	}
	if err := tr.WriteFile("etc/hostname", fstree.Header{Mode: 0o640, UID: 0, GID: 4, Mtime: epoch}, fstree.Bytes("hardenvm\n")); err != nil {
		t.Fatal(err)
	}
	c, _ := fstree.ParseCapability("cap_net_raw=ep")
	if err := tr.SetCapability("usr/bin/busybox", c); err != nil {
		t.Fatal(err)
	}
	return tr
}

func build(t *testing.T, tr *fstree.Tree) (string, [32]byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "root.erofs")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	img, err := Build(tr, f, Options{Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != img.Size || img.Size%4096 != 0 {
		t.Fatalf("image is %d bytes, Build said %d; want equal, a multiple of 4096", len(b), img.Size)
	}
	return p, sha256.Sum256(b)
}

// TestBusybox builds a root filesystem from the real busybox-static
// package twice (identical bytes), checks it with fsck.erofs, and compares
// the kernel's view of it with the tree.
func TestBusybox(t *testing.T) {
	deb := debtest.Download(t, "busybox-static")
	img, sum1 := build(t, busyboxTree(t, deb))
	_, sum2 := build(t, busyboxTree(t, deb))
	if sum1 != sum2 {
		t.Fatalf("two builds differ: %x vs %x", sum1, sum2)
	}
	t.Logf("image sha256 %x", sum1)

	fsck := testenv.Tool(t, "fsck.erofs", "erofs-utils")
	if out, err := exec.Command(fsck, img).CombinedOutput(); err != nil {
		t.Fatalf("fsck.erofs: %v\n%s", err, out)
	}

	testenv.Root(t)
	mnt := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "mount", "-t", "erofs", "-o", "loop,ro", img, mnt).CombinedOutput(); err != nil {
		testenv.Missing(t, fmt.Sprintf("loop-mounting erofs (%v: %s)", err, bytes.TrimSpace(out)), "the erofs kernel module")
	}
	defer func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, out)
		}
	}()
	want, err := busyboxTree(t, deb).List(fstree.ListOptions{Digests: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if want[i].Mtime.After(epoch) {
			want[i].Mtime = epoch
		}
	}
	mounted, err := fstree.FromDir(mnt)
	if err != nil {
		t.Fatal(err)
	}
	got, err := mounted.List(fstree.ListOptions{Digests: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mounted image vs tree (-tree +image):\n%s", diff)
	}
	// The busybox binary runs from the image.
	out, err := exec.Command(filepath.Join(mnt, "bin/busybox"), "echo", "from erofs").CombinedOutput()
	if err != nil || string(out) != "from erofs\n" {
		t.Errorf("busybox from the image: %q, %v", out, err)
	}
}

func TestCheckMergedUsr(t *testing.T) {
	tr, _, err := Unpack(nil, UnpackOptions{Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckMergedUsr(tr); err != nil {
		t.Fatal(err)
	}
	tr.Remove("lib64")
	tr.MkdirAll("lib64", fstree.Header{Mode: 0o755})
	if err := CheckMergedUsr(tr); err == nil {
		t.Error("a real /lib64 directory passed the merged-/usr check")
	}
}

func TestBuildNeedsEpoch(t *testing.T) {
	if _, err := Build(fstree.New(), nil, Options{}); err == nil {
		t.Error("Build without an epoch succeeded")
	}
}
