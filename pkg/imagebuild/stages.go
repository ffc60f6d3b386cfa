package imagebuild

import (
	"context"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"os"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
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

// writeRoot writes the EROFS image, compressed as the spec says, into a
// new file at path and leaves it open: the verity and disk stages read it
// from there.
func writeRoot(path string, t *fstree.Tree, compression string, o Options) (*os.File, erofs.Image, error) {
	c, err := erofs.ParseCompression(compression)
	if err != nil {
		return nil, erofs.Image{}, fmt.Errorf("build: rootfs.compression: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, erofs.Image{}, fmt.Errorf("build: %w", err)
	}
	img, err := rootfs.Build(t, f, rootfs.Options{Epoch: o.Epoch, Log: o.Log, Compression: c})
	if err != nil {
		f.Close()
		return nil, erofs.Image{}, err
	}
	return f, img, nil
}

// formatVerity writes the hash tree of root into a new file at path and
// leaves it open for the disk stage.
func formatVerity(ctx context.Context, root *io.SectionReader, path string) (*os.File, verity.Result, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, verity.Result{}, fmt.Errorf("build: %w", err)
	}
	r, err := verity.Format(ctx, root, root.Size(), f, verity.Params{})
	if err != nil {
		f.Close()
		return nil, verity.Result{}, fmt.Errorf("build: verity: %w", err)
	}
	return f, r, nil
}

// section is all of an open file, as a reader.
func section(f *os.File) (*io.SectionReader, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	return io.NewSectionReader(f, 0, fi.Size()), nil
}

// writeDisk writes disk.raw atomically: complete or not at all.
func writeDisk(path string, im disk.Image) (*disk.Result, error) {
	f, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	defer f.Abort()
	res, err := disk.Build(f.File, im)
	if err != nil {
		return nil, err
	}
	if err := f.Commit(); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	return res, nil
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
