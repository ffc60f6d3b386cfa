package erofs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/fstree"
)

var epoch = time.Unix(1735689600, 0) // 2025-01-01

// sampleTree exercises every node type and the layout edge cases: sizes
// around the block size, a file whose tail can't be inlined, a directory
// spanning many blocks, long symlinks, hard links, setuid/setgid/sticky,
// big ids, file capabilities and user xattrs, mtimes before and after the
// epoch.
func sampleTree(t testing.TB) *fstree.Tree {
	t.Helper()
	tr := fstree.New()
	r := fstree.Header{Mode: 0o755, Mtime: epoch}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(tr.MergeUsr(r))
	for _, d := range []string{"etc", "dev", "tmp", "var/lib/big", "usr/share/many"} {
		_, err := tr.MkdirAll(d, r)
		must(err)
	}
	must(tr.Chmod("tmp", 0o1777))
	rng := rand.New(rand.NewPCG(1, 2))
	data := func(n int) fstree.Bytes {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	old := fstree.Header{Mode: 0o644, Mtime: time.Unix(1600000000, 123456789)}
	for _, n := range []int{0, 1, 100, 4000, 4095, 4096, 4097, 8191, 8192, 12345, 5<<20 + 3} {
		must(tr.WriteFile(fmt.Sprintf("var/lib/big/f%d", n), old, data(n)))
	}
	must(tr.WriteFile("etc/future", fstree.Header{Mode: 0o600, Mtime: epoch.Add(time.Hour)}, fstree.Bytes("from the future\n")))
	must(tr.WriteFile("etc/unset-mtime", fstree.Header{Mode: 0o640, GID: 42}, fstree.Bytes("x")))
	must(tr.WriteFile("usr/bin/ping", fstree.Header{Mode: 0o4755, Mtime: epoch}, data(3000)))
	capv, err := fstree.ParseCapability("cap_net_raw=ep")
	must(err)
	must(tr.SetCapability("usr/bin/ping", capv))
	must(tr.SetXattr("usr/bin/ping", "user.comment", []byte("hello")))
	must(tr.SetXattr("usr/bin/ping", "trusted.overlay.opaque", []byte("y")))
	must(tr.Link("usr/bin/ping", "usr/bin/ping6"))
	must(tr.Link("usr/bin/ping", "usr/sbin/ping4"))
	must(tr.WriteFile("usr/bin/wall", fstree.Header{Mode: 0o2755, GID: 5, Mtime: epoch}, data(10)))
	must(tr.WriteFile("var/lib/bigids", fstree.Header{Mode: 0o600, UID: 100000, GID: 165536, Mtime: epoch}, data(7)))
	must(tr.Symlink("busybox", "usr/bin/sh", r))
	must(tr.Symlink(strings.Repeat("long/", 600)+"target", "usr/bin/longlink", r))
	must(tr.Symlink("/usr/share/many", "etc/abs", r))
	must(tr.Mknod("dev/null", fstree.CharDevice, fstree.Header{Mode: 0o666, Mtime: epoch}, 1, 3))
	must(tr.Mknod("dev/sda", fstree.BlockDevice, fstree.Header{Mode: 0o660, GID: 6, Mtime: epoch}, 8, 300))
	must(tr.Mknod("dev/initctl", fstree.FIFO, fstree.Header{Mode: 0o600, Mtime: epoch}, 0, 0))
	for i := range 2000 {
		must(tr.WriteFile(fmt.Sprintf("usr/share/many/entry-with-a-longish-name-%05d", i), old, data(i%50)))
	}
	must(tr.WriteFile("usr/share/many/-sorts-before-dot", old, nil))
	// Compressible files: sizes around the lcluster and pcluster edges, a
	// run of zeros longer than one extent may hold, and compressible text
	// broken by random bytes (plain pclusters in the middle and at the end).
	_, err = tr.MkdirAll("usr/share/doc", r)
	must(err)
	for _, n := range []int{8193, 12288, 16385, 70000, 1<<20 + 7} {
		must(tr.WriteFile(fmt.Sprintf("usr/share/doc/text%d", n), old, text(rng, n)))
	}
	must(tr.WriteFile("usr/share/doc/zeros", old, make(fstree.Bytes, 3<<20)))
	mixed := append(append(text(rng, 40000), data(9000)...), append(text(rng, 40000), data(5000)...)...)
	must(tr.WriteFile("usr/share/doc/mixed", old, mixed))
	must(tr.Link("usr/share/doc/mixed", "usr/share/doc/mixed-link"))
	return tr
}

// text is n bytes of word salad: compressible like documentation.
func text(rng *rand.Rand, n int) fstree.Bytes {
	words := strings.Fields("the kernel maps a read in the last logical cluster of a file " +
		"compressed extent physical cluster block index header hardened image docker engine")
	b := make([]byte, 0, n+16)
	for len(b) < n {
		b = append(b, words[rng.IntN(len(words))]...)
		b = append(b, " \n"[rng.IntN(2)])
	}
	return b[:n]
}

func writeImage(t testing.TB, tr *fstree.Tree, opt Options) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "root.erofs")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := Write(f, tr, opt)
	if err != nil {
		t.Fatal(err)
	}
	n := img.Size
	fi, _ := f.Stat()
	if fi.Size() != n || n%BlockSize != 0 {
		t.Fatalf("Write returned %d, file is %d bytes; want equal and a multiple of %d", n, fi.Size(), BlockSize)
	}
	return p
}

// want is the tree's listing as an image must show it: mtimes clamped to
// the epoch, unset ones set to it.
func want(t testing.TB, tr *fstree.Tree) []fstree.Entry {
	t.Helper()
	l, err := tr.List(fstree.ListOptions{Digests: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range l {
		if l[i].Mtime.IsZero() || l[i].Mtime.After(epoch) {
			l[i].Mtime = epoch
		}
	}
	return l
}

func list(t testing.TB, dir string) []fstree.Entry {
	t.Helper()
	tr, err := fstree.FromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tr.List(fstree.ListOptions{Digests: true})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestFsckAndExtract: fsck.erofs accepts the image, and what it extracts
// equals the tree, except what erofs-utils 1.5 does not extract: xattrs,
// hard links, and setuid/setgid on files (it drops them from
// mkfs.erofs's own images too). TestKernelMount checks all of those.
func TestFsckAndExtract(t *testing.T) {
	fsck := testenv.Tool(t, "fsck.erofs", "erofs-utils")
	for name, opt := range compressions() {
		t.Run(name, func(t *testing.T) { fsckAndExtract(t, fsck, opt) })
	}
}

// compressions are the options the reader tests cover: each compression,
// and lz4hc with files cut into small segments (compressed apart, as the
// large files of a real image are) so that the sample's files have
// several.
func compressions() map[string]Options {
	return map[string]Options{
		"none":           {Epoch: epoch},
		"lz4":            {Epoch: epoch, Compression: CompressLZ4},
		"lz4hc":          {Epoch: epoch, Compression: CompressLZ4HC},
		"lz4hc-segments": {Epoch: epoch, Compression: CompressLZ4HC, segment: 32 << 10},
	}
}

func fsckAndExtract(t *testing.T, fsck string, opt Options) {
	tr := sampleTree(t)
	img := writeImage(t, tr, opt)
	run(t, fsck, img)
	testenv.Root(t) // extraction makes device nodes and keeps owners only as root
	out := filepath.Join(t.TempDir(), "x")
	run(t, fsck, "--extract="+out, img)

	got := list(t, out)
	exp := want(t, tr)
	for _, l := range [][]fstree.Entry{got, exp} {
		for i := range l {
			l[i].Xattrs, l[i].Link = nil, 0
			if l[i].Type == fstree.Regular {
				l[i].Mode &^= fstree.ModeSetuid | fstree.ModeSetgid
			}
		}
	}
	if diff := cmp.Diff(exp, got); diff != "" {
		t.Errorf("fsck.erofs --extract listing (-tree +image):\n%s", diff)
	}
}

// TestKernelMount mounts the image with the host kernel, the reader that
// matters, and compares everything: owners, modes, xattrs (file
// capabilities), hard links, device numbers, mtimes, contents.
func TestKernelMount(t *testing.T) {
	testenv.Root(t)
	for name, opt := range compressions() {
		t.Run(name, func(t *testing.T) { kernelMount(t, opt) })
	}
}

func kernelMount(t *testing.T, opt Options) {
	tr := sampleTree(t)
	img := writeImage(t, tr, opt)
	mnt := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "mount", "-t", "erofs", "-o", "loop,ro", img, mnt).CombinedOutput(); err != nil {
		testenv.Missing(t, fmt.Sprintf("loop-mounting erofs (%v: %s)", err, bytes.TrimSpace(out)), "the erofs kernel module")
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	if diff := cmp.Diff(want(t, tr), list(t, mnt)); diff != "" {
		t.Errorf("kernel's view (-tree +image):\n%s", diff)
	}
}

func TestDeterministic(t *testing.T) {
	sum := func(opt Options) [32]byte {
		img := writeImage(t, sampleTree(t), opt)
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	a, b := sum(Options{Epoch: epoch}), sum(Options{Epoch: epoch})
	if a != b {
		t.Fatalf("same tree, different images: %x vs %x", a, b)
	}
	if c := sum(Options{Epoch: epoch.Add(time.Second)}); c == a {
		t.Error("a different epoch gave the same image")
	}
	if c := sum(Options{Epoch: epoch, UUID: [16]byte{1}}); c == a {
		t.Error("an explicit UUID gave the same image as the derived one")
	}
	// Compressed: files are compressed in parallel; one CPU or two, the
	// same bytes.
	z := sum(Options{Epoch: epoch, Compression: CompressLZ4HC})
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	if z1 := sum(Options{Epoch: epoch, Compression: CompressLZ4HC}); z1 != z {
		t.Errorf("lz4hc on one CPU gave %x, on %d CPUs %x", z1, runtime.NumCPU(), z)
	}
	if z == a {
		t.Error("lz4hc gave the same image as none")
	}
	// Files cut into segments: the same bytes however many workers
	// compress them.
	seg := Options{Epoch: epoch, Compression: CompressLZ4HC, segment: 32 << 10}
	s1 := sum(seg)
	runtime.GOMAXPROCS(4)
	if s4 := sum(seg); s4 != s1 {
		t.Errorf("lz4hc in segments on one CPU gave %x, on four %x", s1, s4)
	}
	if s1 == z {
		t.Error("lz4hc in 32 KiB segments gave the same image as in whole files")
	}
}

func TestUUID(t *testing.T) {
	dump := testenv.Tool(t, "dump.erofs", "erofs-utils")
	tr := fstree.New()
	tr.WriteFile("f", fstree.Header{Mode: 0o644}, fstree.Bytes("x"))
	img := writeImage(t, tr, Options{Epoch: epoch, UUID: [16]byte{0xde, 0xad, 15: 0x01}, VolumeName: "root"})
	out := run(t, dump, "-s", img)
	for _, w := range []string{"dead0000-0000-0000-0000-000000000001", "Filesystem inode count:                       2", "sb_csum"} {
		if !strings.Contains(out, w) {
			t.Errorf("dump.erofs -s lacks %q:\n%s", w, out)
		}
	}
	img = writeImage(t, tr, Options{Epoch: epoch})
	if out := run(t, dump, "-s", img); strings.Contains(out, "00000000-0000-0000-0000-000000000000") {
		t.Errorf("derived UUID is zero:\n%s", out)
	}
}

func TestRefuses(t *testing.T) {
	h := fstree.Header{Mode: 0o644}
	tests := []struct {
		name string
		edit func(*fstree.Tree)
		opt  Options
		want string
	}{
		{"no epoch", func(*fstree.Tree) {}, Options{}, "Epoch"},
		{"long volume name", func(*fstree.Tree) {}, Options{Epoch: epoch, VolumeName: strings.Repeat("v", 17)}, "volume name"},
		{"unknown xattr prefix", func(tr *fstree.Tree) {
			tr.WriteFile("f", h, nil)
			tr.SetXattr("f", "system.foo", []byte("x"))
		}, Options{Epoch: epoch}, "system.foo"},
		{"short content", func(tr *fstree.Tree) { tr.WriteFile("f", h, badContent{10000, 9000}) }, Options{Epoch: epoch}, "/f: read"},
		{"long content", func(tr *fstree.Tree) { tr.WriteFile("f", h, badContent{5000, 5001}) }, Options{Epoch: epoch}, "/f: content longer"},
		{"huge xattr", func(tr *fstree.Tree) {
			tr.WriteFile("f", h, nil)
			tr.SetXattr("f", "user.big", make([]byte, 5000))
		}, Options{Epoch: epoch}, "more than a block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := fstree.New()
			tt.edit(tr)
			_, err := Write(discard{}, tr, tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Write: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

type discard struct{}

func (discard) WriteAt(p []byte, off int64) (int, error) { return len(p), nil }

// TestEmptyTree: the smallest image is one block and still passes fsck.
func TestEmptyTree(t *testing.T) {
	img := writeImage(t, fstree.New(), Options{Epoch: epoch})
	if fi, _ := os.Stat(img); fi.Size() != BlockSize {
		t.Errorf("empty image is %d bytes, want %d", fi.Size(), BlockSize)
	}
	run(t, testenv.Tool(t, "fsck.erofs", "erofs-utils"), img)
}
