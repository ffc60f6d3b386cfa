// Package imagetest makes small, real, signed image directories for tests
// of verification and distribution: the disk (GPT with an ESP, a root
// partition and its dm-verity tree, optionally a config partition), the
// UKI (built on the test kernel's systemd-boot stub and signed with the db
// key), the variable store (random bytes standing in), the manifest and its
// bundle. It is what `hardenvm build` outputs, minus a bootable OS, in well
// under a second.
package imagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testkernel"
	"github.com/hardenvm/hardenvm/pkg/authenticode"
	"github.com/hardenvm/hardenvm/pkg/disk"
	"github.com/hardenvm/hardenvm/pkg/fat"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/uki"
	"github.com/hardenvm/hardenvm/pkg/verity"
	"io"
)

// Options vary the image.
type Options struct {
	Locked bool // manifest says the image is locked
	// Unhardened: the manifest says "unhardened": true (built with
	// --unhardened-for-benchmarks).
	Unhardened bool
	Config     bool // add a config partition
	Seed       uint64
	// UKISigner signs the UKI instead of the set's db key (the manifest
	// still names the set's db certificate).
	UKISigner *keys.Key
	// Formats are the disk formats written besides disk.raw
	// (imagedir.WriteDiskFormat), listed in the manifest.
	Formats []string
}

// Image is a built image directory and the keys that signed it.
type Image struct {
	Dir      string
	KeyDir   string // keys.Write layout: signing.pub, db.crt, ...
	Keys     *keys.Set
	Manifest *manifest.Manifest
}

var (
	keyOnce sync.Once
	keySet  *keys.Set
	keyErr  error
)

// Keys returns one key set per test binary (RSA key generation is slow).
func Keys(t testing.TB) *keys.Set {
	t.Helper()
	keyOnce.Do(func() { keySet, keyErr = keys.Generate(keys.Options{Now: time.Now(), Organization: "imagetest"}) })
	if keyErr != nil {
		t.Fatal(keyErr)
	}
	return keySet
}

// OtherKeys returns a fresh key set, for "signed by someone else" tests.
func OtherKeys(t testing.TB) *keys.Set {
	t.Helper()
	s, err := keys.Generate(keys.Options{Now: time.Now(), Organization: "other"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func section(b []byte) *io.SectionReader {
	return io.NewSectionReader(bytes.NewReader(b), 0, int64(len(b)))
}

func random(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// New builds a signed image in a temporary directory.
func New(t testing.TB, o Options) *Image {
	t.Helper()
	set := Keys(t)
	dir := filepath.Join(t.TempDir(), "image")
	keyDir := filepath.Join(t.TempDir(), "keys")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := keys.Write(keyDir, set, false); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write := func(p string, b []byte) string {
		t.Helper()
		must(os.WriteFile(p, b, 0o644))
		return p
	}

	// Root: 1 MiB of data with its verity tree.
	rootData := append(random(o.Seed+1, 512<<10), make([]byte, 512<<10)...)
	hf, err := os.Create(filepath.Join(t.TempDir(), "root.verity"))
	must(err)
	res, err := verity.Format(context.Background(), bytes.NewReader(rootData), int64(len(rootData)), hf, verity.Params{})
	must(err)
	must(hf.Close())
	tree, err := os.ReadFile(hf.Name())
	must(err)

	// UKI: the stub with itself as a stand-in kernel (any PE will do for
	// Authenticode), signed with the db key.
	stub, err := os.ReadFile(testkernel.Stub(t))
	must(err)
	const cmdline = "console=ttyS0 hardenvm.test=1"
	img, err := uki.Build(uki.Input{Stub: stub, Linux: stub, Uname: "6.1.0-imagetest", Initrd: initramfs(t, set.Get(keys.Admin), o.Seed+2),
		Cmdline: cmdline, OSRel: "ID=imagetest\n"})
	must(err)
	db := set.Get(keys.DB)
	if o.UKISigner != nil {
		db = o.UKISigner
	}
	img, err = authenticode.Sign(img, db.Signer, db.Cert)
	must(err)
	write(filepath.Join(dir, imagedir.UKI), img)
	adigest, err := authenticode.Digest(img)
	must(err)

	im := disk.Image{
		ESP:  []fat.File{{Path: "EFI/BOOT/BOOTX64.EFI", Size: int64(len(img)), Data: bytes.NewReader(img)}},
		Time: time.Unix(1700000000, 0), Root: section(rootData), RootVerity: section(tree), RootHash: res.RootHash,
		Free: 1 << 20,
	}
	if o.Config {
		im.Config = section(configImage(t, set.Get(keys.Admin), o.Seed+3))
	}
	df, err := os.Create(filepath.Join(dir, imagedir.Disk))
	must(err)
	_, err = disk.Build(df, im)
	must(err)
	must(df.Close())
	write(filepath.Join(dir, imagedir.Vars), random(o.Seed+4, 128<<10))

	m := &manifest.Manifest{
		Version: manifest.Version, Name: "imagetest", Epoch: 1700000000, Cmdline: cmdline,
		Locked: o.Locked, Unhardened: o.Unhardened,
		Artifacts: map[string]manifest.File{},
		Root: manifest.Root{Format: "erofs", Size: int64(len(rootData)), RootHash: hex.EncodeToString(res.RootHash),
			Salt: hex.EncodeToString(res.Salt), DataBlocks: res.DataBlocks, HashSize: res.HashSize},
		UKI: manifest.UKI{KernelRelease: "6.1.0-imagetest", Authenticode: hex.EncodeToString(adigest), Signer: set.Get(keys.DB).Fingerprint()},
		Keys: manifest.Keys{PK: set.Get(keys.PK).Fingerprint(), KEK: set.Get(keys.KEK).Fingerprint(),
			DB: set.Get(keys.DB).Fingerprint(), Admin: set.Get(keys.Admin).Fingerprint()},
	}
	for _, name := range imagedir.Required {
		f, err := manifest.HashFile(filepath.Join(dir, name))
		must(err)
		m.Artifacts[name] = f
	}
	for _, format := range o.Formats {
		name, err := imagedir.DiskFile(format)
		must(err)
		m.Artifacts[name], err = imagedir.WriteDiskFormat(context.Background(), dir, format)
		must(err)
	}
	must(imagedir.WriteManifest(dir, m))
	must(imagedir.Sign(dir, set.Get(keys.Signing).Signer))
	return &Image{Dir: dir, KeyDir: keyDir, Keys: set, Manifest: m}
}

// Resign rewrites the manifest (after a test changed it) and signs it again.
func (im *Image) Resign(t testing.TB) {
	t.Helper()
	if err := imagedir.WriteManifest(im.Dir, im.Manifest); err != nil {
		t.Fatal(err)
	}
	if err := imagedir.Sign(im.Dir, im.Keys.Get(keys.Signing).Signer); err != nil {
		t.Fatal(err)
	}
}

// Files lists the image directory's files, for tamper tests.
var Files = []string{imagedir.Disk, imagedir.UKI, imagedir.Vars, imagedir.Manifest, imagedir.Bundle}

// SHA256 returns the hex digest of a file.
func SHA256(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// FlipByte changes one bit of the byte at off in the file at path (off
// counts from the end when negative): the smallest possible tampering.
func FlipByte(t testing.TB, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
