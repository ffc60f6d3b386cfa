// Package buildtest builds a real image directory for tests that change
// or check whole images (config install, measure): images/minimal.yml,
// with busybox standing in for the guest init and agent (the build does
// not look inside them), signed with a fresh key set. It needs the
// minimal image's packages (the download cache makes it take seconds).
package buildtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/efivars"
	"github.com/hardenvm/hardenvm/pkg/imagebuild"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/manifest"
)

// Epoch is the images' SOURCE_DATE_EPOCH.
var Epoch = time.Unix(1700000000, 0).UTC()

const anyStaticBinary = "/bin/busybox"

// Image is a built image directory and its keys.
type Image struct {
	Dir      string
	KeyDir   string // keys.Write layout
	Keys     *keys.Set
	Manifest *manifest.Manifest
}

// Minimal builds images/minimal.yml into a temporary directory. It is
// skipped with -short.
func Minimal(t testing.TB) *Image {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the minimal image (fetches its packages); skipped with -short")
	}
	testenv.File(t, anyStaticBinary, "busybox-static")
	testenv.File(t, efivars.DefaultTemplate, "ovmf")
	_, file, _, _ := runtime.Caller(0)
	spec := filepath.Join(filepath.Dir(file), "..", "..", "images", "minimal.yml")
	set, err := keys.Generate(keys.Options{Now: Epoch})
	if err != nil {
		t.Fatal(err)
	}
	keyDir := filepath.Join(t.TempDir(), "keys")
	if err := keys.Write(keyDir, set, false); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "image")
	m, err := imagebuild.Build(context.Background(), imagebuild.Options{Spec: spec, Out: dir, Keys: keyDir,
		Init: anyStaticBinary, Agent: anyStaticBinary, Epoch: Epoch})
	if err != nil {
		t.Fatal(err)
	}
	return &Image{Dir: dir, KeyDir: keyDir, Keys: set, Manifest: m}
}

// Digests maps each file of the directory dir to its SHA-256, for tests
// that a directory stayed byte-identical.
func Digests(t testing.TB, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range ents {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = hex.EncodeToString(h.Sum(nil))
	}
	return m
}
