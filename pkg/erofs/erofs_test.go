package erofs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/fstree"
	"github.com/hardenvm/hardenvm/pkg/fstree/fstreetest"
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
	return tr
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
	tr := sampleTree(t)
	img := writeImage(t, tr, Options{Epoch: epoch})
	run(t, fsck, img)
	out := filepath.Join(t.TempDir(), "x")
	run(t, fsck, "--extract="+out, img)

	got := list(t, out)
	exp := want(t, tr)
	root := os.Geteuid() == 0
	for _, l := range [][]fstree.Entry{got, exp} {
		for i := range l {
			l[i].Xattrs, l[i].Link = nil, 0
			if l[i].Type == fstree.Regular {
				l[i].Mode &^= fstree.ModeSetuid | fstree.ModeSetgid
			}
			if !root { // extraction as a user keeps neither owners nor device nodes
				l[i].UID, l[i].GID = 0, 0
			}
		}
	}
	if !root {
		t.Log("not root: owners not compared (fsck.erofs extracts them only as root)")
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
	tr := sampleTree(t)
	img := writeImage(t, tr, Options{Epoch: epoch})
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

type badContent struct{ declared, actual int }

func (b badContent) Size() int64 { return int64(b.declared) }
func (b badContent) Open() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(make([]byte, b.actual))), nil
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

// bigContent is a file of size bytes, zero except for a marker at its end,
// generated on the fly.
type bigContent struct{ size int64 }

const bigMarker = "end of a file past 4 GiB"

func (c bigContent) Size() int64 { return c.size }
func (c bigContent) Open() (io.ReadCloser, error) {
	return io.NopCloser(io.MultiReader(io.LimitReader(zeroReader{}, c.size-int64(len(bigMarker))), strings.NewReader(bigMarker))), nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// sparseFile skips writing all-zero chunks, so a mostly-zero image of
// several GiB costs no disk.
type sparseFile struct{ *os.File }

var zeroChunk = make([]byte, chunkSize)

func (s sparseFile) WriteAt(p []byte, off int64) (int, error) {
	for q := p; len(q) > 0; {
		n := min(len(q), len(zeroChunk))
		if !bytes.Equal(q[:n], zeroChunk[:n]) {
			return s.File.WriteAt(p, off)
		}
		q = q[n:]
	}
	return len(p), nil
}

// TestLargeFile writes a file past 4 GiB (extended inode, 64-bit size)
// and reads its last bytes back through the kernel.
func TestLargeFile(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 4.1 GiB (sparse) image")
	}
	testenv.Root(t)
	size := int64(4<<30 + 12345)
	tr := fstree.New()
	tr.WriteFile("big", fstree.Header{Mode: 0o644, Mtime: epoch}, bigContent{size})
	tr.WriteFile("small", fstree.Header{Mode: 0o644, Mtime: epoch}, fstree.Bytes("after the big one"))
	img := filepath.Join(t.TempDir(), "big.erofs")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	im, err := Write(sparseFile{f}, tr, Options{Epoch: epoch, UUID: [16]byte{1}})
	if err == nil {
		err = f.Truncate(im.Size)
	}
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "erofs", "-o", "loop,ro", img, mnt).CombinedOutput(); err != nil {
		testenv.Missing(t, fmt.Sprintf("loop-mounting erofs (%v: %s)", err, bytes.TrimSpace(out)), "the erofs kernel module")
	}
	defer exec.Command("umount", mnt).Run()
	bf, err := os.Open(filepath.Join(mnt, "big"))
	if err != nil {
		t.Fatal(err)
	}
	defer bf.Close()
	fi, _ := bf.Stat()
	tail := make([]byte, len(bigMarker)+3)
	if _, err := bf.ReadAt(tail, size-int64(len(tail))); err != nil {
		t.Fatal(err)
	}
	if fi.Size() != size || string(tail) != "\x00\x00\x00"+bigMarker {
		t.Errorf("big: size %d, tail %q; want %d, %q", fi.Size(), tail, size, bigMarker)
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "small")); string(b) != "after the big one" {
		t.Errorf("small = %q, %v", b, err)
	}
}

// randomTree makes a tree whose inodes land on every kind of block
// boundary: random name lengths, xattr sizes, file sizes near multiples of
// the block size, owners past 16 bits, hard links, deep directories.
func randomTree(t testing.TB, seed uint64, n int) *fstree.Tree {
	rng := rand.New(rand.NewPCG(seed, seed))
	tr := fstree.New()
	dirs := []string{"/"}
	var files []string
	name := func() string {
		b := make([]byte, 1+rng.IntN(60))
		if rng.IntN(20) == 0 {
			b = make([]byte, 200+rng.IntN(56))
		}
		for i := range b {
			b[i] = "abcdefghijklmnopqrstuvwxyz0123456789-_.ABC"[rng.IntN(42)]
		}
		if s := string(b); s == "." || s == ".." {
			return "dot"
		}
		return string(b)
	}
	hdr := func() fstree.Header {
		h := fstree.Header{Mode: uint32(rng.IntN(0o10000)), Mtime: epoch.Add(-time.Duration(rng.IntN(1e6)) * time.Second)}
		if rng.IntN(4) == 0 {
			h.UID, h.GID = uint32(rng.IntN(1<<20)), uint32(rng.IntN(1<<20))
		}
		return h
	}
	for range n {
		dir := dirs[rng.IntN(len(dirs))]
		p := filepath.Join(dir, name())
		if _, err := tr.Lookup(p); err == nil {
			continue
		}
		var err error
		switch k := rng.IntN(10); {
		case k < 2:
			_, err = tr.MkdirAll(p, hdr())
			dirs = append(dirs, p)
		case k < 7:
			size := rng.IntN(3 * BlockSize)
			if rng.IntN(3) == 0 {
				size = (1+rng.IntN(3))*BlockSize - 200 + rng.IntN(400)
			}
			b := make([]byte, size)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			err = tr.WriteFile(p, hdr(), fstree.Bytes(b))
			files = append(files, p)
		case k < 8 && len(files) > 0:
			err = tr.Link(files[rng.IntN(len(files))], p)
		case k < 9:
			err = tr.Symlink(strings.Repeat("x/", rng.IntN(1500))+"y", p, fstree.Header{Mtime: epoch})
		default:
			err = tr.Mknod(p, fstree.FIFO, hdr(), 0, 0)
		}
		if err != nil {
			t.Fatal(err)
		}
		if rng.IntN(3) == 0 {
			v := make([]byte, rng.IntN(600))
			for i := range v {
				v[i] = byte('a' + rng.IntN(26))
			}
			xname := name()
			xname = xname[:min(len(xname), 40)]
			ns := "user."
			if n, _ := tr.Lookup(p); n.Type != fstree.Regular && n.Type != fstree.Dir {
				ns = "security."
			}
			if err := tr.SetXattr(p, ns+xname, v); err != nil {
				t.Fatal(err)
			}
			if rng.IntN(2) == 0 {
				tr.SetXattr(p, "trusted."+xname+"t", v[:len(v)/2])
			}
		}
	}
	return tr
}

// TestRandomTrees writes random trees and checks them with fsck.erofs and,
// as root, with the kernel (every field of every entry).
func TestRandomTrees(t *testing.T) {
	fsck := testenv.Tool(t, "fsck.erofs", "erofs-utils")
	for seed := range uint64(4) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			tr := randomTree(t, seed, 1500)
			img := writeImage(t, tr, Options{Epoch: epoch})
			run(t, fsck, img)
			if os.Geteuid() != 0 {
				t.Skip("checked with fsck.erofs; the kernel check needs root")
			}
			mnt := t.TempDir()
			if out, err := exec.Command("mount", "-t", "erofs", "-o", "loop,ro", img, mnt).CombinedOutput(); err != nil {
				testenv.Missing(t, fmt.Sprintf("loop-mounting erofs (%v: %s)", err, bytes.TrimSpace(out)), "the erofs kernel module")
			}
			defer exec.Command("umount", mnt).Run()
			if diff := cmp.Diff(want(t, tr), list(t, mnt)); diff != "" {
				t.Errorf("kernel's view (-tree +image):\n%s", diff)
			}
		})
	}
}

// FuzzWrite: every tree the fstree API can make is written without error,
// twice to the same bytes, and the image is whole blocks (TestRandomTrees
// has readers check such trees).
func FuzzWrite(f *testing.F) {
	f.Add([]byte{0, 2, 1, 0, 1, 1, 3, 0, 0, 0, 0, 1, 2, 5, 6, 3, 2})
	f.Add([]byte{1, 0, 0, 7, 7, 7, 7, 200, 200, 1, 1, 0, 0, 9, 9, 9, 9, 255, 255, 7, 0, 0, 0, 0, 0, 2, 100})
	f.Add([]byte{8, 3, 0, 1, 2, 3, 4, 5, 6, 2, 9, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 40, 40})
	f.Fuzz(func(t *testing.T, data []byte) {
		tr := fstreetest.FromOps(data)
		var a, b memImage
		ia, err := Write(&a, tr, Options{Epoch: epoch})
		if err != nil {
			t.Fatalf("Write: %v", err)
		}
		if _, err := Write(&b, tr, Options{Epoch: epoch}); err != nil {
			t.Fatalf("second Write: %v", err)
		}
		if !bytes.Equal(a.b, b.b) {
			t.Fatal("same tree, different bytes")
		}
		if int64(len(a.b)) != ia.Size || ia.Size%BlockSize != 0 {
			t.Fatalf("image of %d bytes, Write said %d", len(a.b), ia.Size)
		}
	})
}

// memImage is an io.WriterAt in memory.
type memImage struct{ b []byte }

func (m *memImage) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

// failingWriter fails every write at or past offset limit.
type failingWriter struct{ limit int64 }

func (f failingWriter) WriteAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.limit {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

// TestWriteErrors: a failing output is reported, whether it fails in the
// data area or in the metadata written last, and nothing hangs.
func TestWriteErrors(t *testing.T) {
	tr := sampleTree(t)
	img, err := Write(discard{}, tr, Options{Epoch: epoch})
	if err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int64{0, 1 << 20, img.Size - 1} {
		done := make(chan error, 1)
		go func() {
			_, err := Write(failingWriter{limit}, tr, Options{Epoch: epoch})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "disk full") {
				t.Errorf("limit %d: Write = %v, want the writer's error", limit, err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("limit %d: Write did not return", limit)
		}
	}
}
