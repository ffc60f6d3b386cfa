package imagetest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/pem"
	"os"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/pkg/configpart"
	"github.com/hardenvm/hardenvm/pkg/cpio"
	"github.com/hardenvm/hardenvm/pkg/erofs"
	"github.com/hardenvm/hardenvm/pkg/fstree"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/verity"
)

// initramfs is a gzip cpio holding what verification reads from it: the
// admin certificate, where the guest init finds it; and seeded bytes, so
// that images of different seeds have different UKIs (a registry stores
// equal blobs once).
func initramfs(t testing.TB, admin *keys.Key, seed uint64) []byte {
	t.Helper()
	var b bytes.Buffer
	w := cpio.NewGzipWriter(&b)
	for _, e := range []cpio.Entry{
		{Name: "etc", Mode: cpio.TypeDir | 0o755},
		{Name: "etc/hardenvm", Mode: cpio.TypeDir | 0o755},
		{Name: bootparams.AdminCertPath, Mode: cpio.TypeFile | 0o644, Data: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: admin.Cert.Raw})},
		{Name: "seed", Mode: cpio.TypeFile | 0o644, Data: random(seed, 4096)},
	} {
		if err := w.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// configImage is a config partition's contents as the build lays them out
// (an EROFS image, its verity tree, a signature block), signed by admin.
func configImage(t testing.TB, admin *keys.Key, seed uint64) []byte {
	t.Helper()
	epoch := time.Unix(1700000000, 0)
	tr := fstree.New()
	tr.Root().Mode, tr.Root().Mtime = 0o755, epoch
	if err := tr.WriteFile("admin-settings.json", fstree.Header{Mode: 0o644, Mtime: epoch}, fstree.Bytes(hex.EncodeToString(random(seed, 64)))); err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(t.TempDir(), "config")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fs, err := erofs.Write(f, tr, erofs.Options{Epoch: epoch, VolumeName: "hardenvm-config"})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, fs.Size)
	if _, err := f.ReadAt(data, 0); err != nil {
		t.Fatal(err)
	}
	var tree bytes.Buffer
	res, err := verity.Format(context.Background(), bytes.NewReader(data), fs.Size, &writerAt{&tree}, verity.Params{})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := configpart.Sign(admin.Signer, admin.Cert, res.RootHash, res.DataBlocks)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := sig.MarshalBlock()
	if err != nil {
		t.Fatal(err)
	}
	return append(append(data, tree.Bytes()[:res.HashSize]...), blk...)
}

// writerAt is a bytes.Buffer written at offsets (verity writes in order).
type writerAt struct{ b *bytes.Buffer }

func (w *writerAt) WriteAt(p []byte, off int64) (int, error) {
	if need := int(off) + len(p); need > w.b.Len() {
		w.b.Write(make([]byte, need-w.b.Len()))
	}
	return copy(w.b.Bytes()[off:], p), nil
}
