package imagebuild

import (
	"context"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"

	"github.com/hardenvm/hardenvm/pkg/authenticode"
	"github.com/hardenvm/hardenvm/pkg/disk"
	"github.com/hardenvm/hardenvm/pkg/erofs"
	"github.com/hardenvm/hardenvm/pkg/fstree"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/rootfs"
	"github.com/hardenvm/hardenvm/pkg/uki"
	"github.com/hardenvm/hardenvm/pkg/verity"
)

func writeRoot(path string, t *fstree.Tree, o Options) (erofs.Image, error) {
	f, err := os.Create(path)
	if err != nil {
		return erofs.Image{}, fmt.Errorf("build: %w", err)
	}
	defer f.Close()
	img, err := rootfs.Build(t, f, rootfs.Options{Epoch: o.Epoch, Log: o.Log})
	if err != nil {
		return erofs.Image{}, err
	}
	return img, f.Close()
}

func formatVerity(ctx context.Context, data string, size int64, hash string) (verity.Result, error) {
	in, err := os.Open(data)
	if err != nil {
		return verity.Result{}, fmt.Errorf("build: %w", err)
	}
	defer in.Close()
	out, err := os.Create(hash)
	if err != nil {
		return verity.Result{}, fmt.Errorf("build: %w", err)
	}
	defer out.Close()
	r, err := verity.Format(ctx, in, size, out, verity.Params{})
	if err != nil {
		return verity.Result{}, fmt.Errorf("build: verity: %w", err)
	}
	return r, out.Close()
}

func pemCert(k *keys.Key) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Cert.Raw})
}

func describeUKI(m *manifest.Manifest, signed []byte, release string, db *keys.Key) error {
	secs, err := uki.Sections(signed)
	if err != nil {
		return err
	}
	m.UKI.KernelRelease = release
	for _, s := range secs {
		m.UKI.Sections = append(m.UKI.Sections, manifest.Section{Name: s.Name, VirtualSize: s.VirtualSize, SHA256: s.SHA256})
	}
	d, err := authenticode.Digest(signed)
	if err != nil {
		return err
	}
	m.UKI.Authenticode = hex.EncodeToString(d)
	m.UKI.Signer = db.Fingerprint()
	return nil
}

func describeDisk(m *manifest.Manifest, r *disk.Result) {
	m.Disk = manifest.Disk{GUID: r.Table.DiskGUID.String(), Size: r.Size}
	for _, p := range r.Table.Partitions {
		m.Disk.Partitions = append(m.Disk.Partitions, manifest.Partition{
			Name: p.Name, Type: p.Type.String(), GUID: p.GUID.String(),
			FirstLBA: p.FirstLBA, LastLBA: p.LastLBA, Attributes: p.Attributes,
		})
	}
}
