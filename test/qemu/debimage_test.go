package qemu

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/pkg/debarchive"
	"github.com/hardenvm/hardenvm/pkg/fstree"
	"github.com/hardenvm/hardenvm/pkg/imagespec"
	"github.com/hardenvm/hardenvm/pkg/lockfile"
	"github.com/hardenvm/hardenvm/pkg/rootfs"
)

// debImage makes a container image's root filesystem from a locked spec
// under testdata (Debian packages unpacked by the project's own rootfs
// code, the spec's users, files and links applied) and writes it as a
// tarball for `docker import`: test images need no registry.
func debImage(t *testing.T, spec string) string {
	t.Helper()
	s, lock, err := imagespec.LoadLocked(filepath.Join("testdata", spec))
	if err != nil {
		t.Fatal(err)
	}
	mirrors, err := debarchive.FindMirrors(debarchive.Mirrors{}, "/")
	if err != nil {
		t.Skipf("no Debian mirror for the test image %s: %v", spec, err)
	}
	cache, err := debarchive.DefaultCache()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	paths, err := lockfile.Fetch(ctx, lock, mirrors, cache)
	if err != nil {
		t.Fatalf("fetching %s's packages: %v", spec, err)
	}
	tree, err := rootfs.FromLock(s, lock, paths, time.Unix(1700000000, 0), rootfs.UnpackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), s.Name+".tar")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := writeTar(f, tree); err != nil {
		t.Fatalf("writing %s: %v", out, err)
	}
	return out
}

// debArchive is debImage as a docker-archive (docker load) of one layer
// tagged tag, with the image ID it loads as: the ID is the digest of a
// config made here, so it is known before the engine sees the image
// (for an allow-list in the admin settings).
func debArchive(t *testing.T, spec, tag string, cmd []string) (path, id string) {
	t.Helper()
	layer := debImage(t, spec)
	f, err := os.Open(layer)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Cmd": cmd, "Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(h.Sum(nil))}},
	})
	sum := sha256.Sum256(cfg)
	man, _ := json.Marshal([]map[string]any{{"Config": "config.json", "RepoTags": []string{tag}, "Layers": []string{"layer.tar"}}})
	path = strings.TrimSuffix(layer, ".tar") + "-archive.tar"
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	tw := tar.NewWriter(out)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	tw.WriteHeader(&tar.Header{Name: "layer.tar", Typeflag: tar.TypeReg, Mode: 0o644, Size: size})
	if _, err := io.Copy(tw, f); err != nil {
		t.Fatal(err)
	}
	for _, e := range []struct {
		name string
		b    []byte
	}{{"config.json", cfg}, {"manifest.json", man}} {
		tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e.b))})
		tw.Write(e.b)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	os.Remove(layer)
	return path, "sha256:" + hex.EncodeToString(sum[:])
}

// writeTar writes tree as a tar archive: owners, modes, setuid bits, hard
// links and extended attributes (file capabilities) as in the tree.
func writeTar(w io.Writer, tree *fstree.Tree) error {
	tw := tar.NewWriter(w)
	seen := map[*fstree.Node]string{}
	err := tree.Walk(func(p string, n *fstree.Node) error {
		if p == "/" {
			return nil
		}
		name := p[1:]
		h := &tar.Header{Name: name, Mode: int64(n.Mode), Uid: int(n.UID), Gid: int(n.GID), ModTime: n.Mtime, Format: tar.FormatPAX}
		for k, v := range n.Xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = string(v)
		}
		if first, ok := seen[n]; ok && n.Type != fstree.Dir {
			h.Typeflag, h.Linkname = tar.TypeLink, first
			return tw.WriteHeader(h)
		}
		seen[n] = name
		switch n.Type {
		case fstree.Dir:
			h.Typeflag, h.Name = tar.TypeDir, name+"/"
		case fstree.Symlink:
			h.Typeflag, h.Linkname = tar.TypeSymlink, n.Target
		case fstree.CharDevice, fstree.BlockDevice, fstree.FIFO:
			return nil // the engine makes /dev
		case fstree.Regular:
			h.Typeflag, h.Size = tar.TypeReg, n.Size()
		default:
			return fmt.Errorf("%s: type %s", p, n.Type)
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if n.Type != fstree.Regular || n.Content == nil {
			return nil
		}
		r, err := n.Content.Open()
		if err != nil {
			return err
		}
		defer r.Close()
		_, err = io.Copy(tw, r)
		return err
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// TestDebImage makes the Docker-in-Docker image's tarball (no VM): the
// engine, CLI and runc are there, with their owners.
func TestDebImage(t *testing.T) {
	p := debImage(t, "dind.yml")
	debImage(t, "systemd.yml")
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]bool{"usr/sbin/dockerd": false, "usr/bin/docker": false, "usr/sbin/runc": false, "usr/bin/containerd": false, "usr/bin/sh": false}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := want[h.Name]; ok {
			want[h.Name] = true
		}
	}
	for n, found := range want {
		if !found {
			t.Errorf("%s is not in the image", n)
		}
	}
	fi, _ := f.Stat()
	t.Logf("%s: %d MiB", p, fi.Size()>>20)
}
