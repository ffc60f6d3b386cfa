package erofs

import (
	"bytes"
	"fmt"
	"math/rand/v2"
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
			testenv.Root(t) // fsck.erofs passed; the kernel's check needs root
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
