package qemu

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/internal/debtest"
	"github.com/hardenvm/hardenvm/pkg/cpio"
	"github.com/hardenvm/hardenvm/pkg/erofs"
	"github.com/hardenvm/hardenvm/pkg/fstree"
	"github.com/hardenvm/hardenvm/pkg/rootfs"
	"github.com/hardenvm/hardenvm/pkg/vm"
	"github.com/hardenvm/hardenvm/test/qemu/testinitrd"
	"github.com/ulikunitz/xz"
)

// kernelModules returns the named modules of the test kernel and, first,
// everything they depend on (the .modinfo "depends=" lists; the Debian
// package ships no modules.dep), decompressed, in load order.
func kernelModules(t *testing.T, modDir string, names ...string) []cpio.Entry {
	t.Helper()
	paths := map[string]string{}
	filepath.WalkDir(filepath.Join(modDir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".ko.xz") {
			paths[strings.ReplaceAll(strings.TrimSuffix(d.Name(), ".ko.xz"), "-", "_")] = p
		}
		return nil
	})
	var out []cpio.Entry
	done := map[string]bool{}
	var load func(name string)
	load = func(name string) {
		name = strings.ReplaceAll(name, "-", "_")
		if done[name] {
			return
		}
		done[name] = true
		p, ok := paths[name]
		if !ok {
			t.Fatalf("module %s not found under %s", name, modDir)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := xz.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		ko, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if i := bytes.Index(ko, []byte("\x00depends=")); i >= 0 {
			deps := ko[i+len("\x00depends="):]
			deps = deps[:bytes.IndexByte(deps, 0)]
			for _, d := range strings.Split(string(deps), ",") {
				if d != "" {
					load(d)
				}
			}
		}
		out = append(out, cpio.Entry{Name: "lib/modules/" + name + ".ko", Mode: cpio.TypeFile | 0o644, Data: ko})
	}
	for _, n := range names {
		load(n)
	}
	return out
}

// Markers the rootfs check's /init prints.
const (
	rootfsMounted = "HARDENVM-ROOTFS-MOUNT:"
	rootfsSum     = "HARDENVM-ROOTFS-SHA256:"
	rootfsStat    = "HARDENVM-ROOTFS-STAT:"
	rootfsExec    = "HARDENVM-ROOTFS-EXEC:"
	rootfsWrite   = "HARDENVM-ROOTFS-WRITE:"
)

// TestRootfsMountsInGuest builds a root filesystem, compressed with
// lz4hc, from the real busybox-static package plus a file of known
// contents, attaches it as a
// read-only virtio disk, and lets the Debian kernel mount it: the guest
// reads the file's sha256 (it must equal the host's), its mode and owner,
// runs busybox from the image, and finds the mount read-only.
func TestRootfsMountsInGuest(t *testing.T) {
	requireQEMU(t)
	kernel := testKernel(t)
	deb := debtest.Download(t, "busybox-static")
	epoch := time.Unix(1735689600, 0)

	tr, _, err := rootfs.Unpack([]rootfs.Deb{{Name: "busybox-static", Open: func() (io.ReadCloser, error) { return os.Open(deb) }}},
		rootfs.UnpackOptions{Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	// Compressible text broken by random bytes, ending in them: the
	// guest decompresses LZ4 pclusters and copies plain ones, mid-file
	// and at the end.
	rng := rand.New(rand.NewPCG(4, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	words := strings.Fields("verity root hash erofs lz4 pcluster guest kernel block index extent")
	text := func(n int) []byte {
		var b []byte
		for len(b) < n {
			b = append(b, words[rng.IntN(len(words))]...)
			b = append(b, ' ')
		}
		return b[:n]
	}
	data := bytes.Join([][]byte{text(5 << 20), random(1 << 20), text(1 << 20), random(12345)}, nil)
	if _, err := tr.MkdirAll("srv/check", fstree.Header{Mode: 0o755, Mtime: epoch}); err != nil {
		t.Fatal(err)
	}
	if err := tr.WriteFile("srv/check/data", fstree.Header{Mode: 0o4750, UID: 1000, GID: 100000, Mtime: epoch}, fstree.Bytes(data)); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "root.erofs")
	f, err := atomicfile.Create(img, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	built, err := rootfs.Build(tr, f, rootfs.Options{Epoch: epoch, Compression: erofs.CompressLZ4HC})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if built.Size >= int64(len(data)) {
		t.Fatalf("lz4hc image of %d bytes holds a %d-byte file and busybox: not compressed", built.Size, len(data))
	}
	want := sha256.Sum256(data)

	mods := kernelModules(t, filepath.Join(filepath.Dir(kernel), "modules"), "erofs", "virtio_blk")
	script := `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /mnt /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "` + testinitrd.StartMarker + ` kernel=$(uname -r)"
for m in ` + moduleNames(mods) + `; do insmod /lib/modules/$m.ko || echo "insmod $m failed"; done
i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
mount -t erofs -o ro /dev/vda /mnt
echo "` + rootfsMounted + ` $(grep ' /mnt ' /proc/mounts)"
echo "` + rootfsSum + ` $(sha256sum /mnt/srv/check/data)"
echo "` + rootfsStat + ` $(stat -c '%a %u %g %s' /mnt/srv/check/data) bin=$(readlink /mnt/bin)"
echo "` + rootfsExec + ` $(/mnt/usr/bin/busybox echo ran-from-erofs)"
if touch /mnt/srv/x 2>/dev/null; then echo "` + rootfsWrite + ` allowed"; else echo "` + rootfsWrite + ` refused"; fi
poweroff -f
`
	rd := scriptInitrd(t, script, mods)

	m := boot(t, vm.Config{Kernel: kernel, Initrd: rd, Append: "console=ttyS0 panic=-1",
		Disks: []vm.Disk{{Path: img, ReadOnly: true}}})
	expect(t, m, 2*time.Minute, testinitrd.StartMarker)
	if got := expect(t, m, time.Minute, rootfsMounted+` ([^\r\n]*)\r?\n`); !strings.Contains(got[1], "/dev/vda /mnt erofs ro") {
		t.Fatalf("mount: %q, want /dev/vda on /mnt, erofs, ro", got[1])
	}
	if got := expect(t, m, time.Minute, rootfsSum+` ([0-9a-f]{64})`); got[1] != hex.EncodeToString(want[:]) {
		t.Errorf("guest sha256 %s, host %x", got[1], want)
	}
	if got := expect(t, m, time.Minute, rootfsStat+` ([^\r\n]*)\r?\n`); got[1] != fmt.Sprintf("4750 1000 100000 %d bin=usr/bin", len(data)) {
		t.Errorf("guest stat: %q", got[1])
	}
	if got := expect(t, m, time.Minute, rootfsExec+` ([^\r\n]*)\r?\n`); got[1] != "ran-from-erofs" {
		t.Errorf("busybox from the image printed %q", got[1])
	}
	if got := expect(t, m, time.Minute, rootfsWrite+` (allowed|refused)`); got[1] != "refused" {
		t.Errorf("writing to the mounted image was %s", got[1])
	}
	if err := m.WaitTimeout(time.Minute); err != nil {
		t.Errorf("after poweroff: %v", err)
	}
}

func moduleNames(mods []cpio.Entry) string {
	var names []string
	for _, e := range mods {
		names = append(names, strings.TrimSuffix(filepath.Base(e.Name), ".ko"))
	}
	return strings.Join(names, " ")
}
