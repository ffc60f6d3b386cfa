package imagedir

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/pkg/checklist"
	"github.com/hardenvm/hardenvm/pkg/configpart"
	"github.com/hardenvm/hardenvm/pkg/cpio"
	"github.com/hardenvm/hardenvm/pkg/gpt"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/uki"
)

// checkConfig checks the config partition as the guest init does: the
// admin signature over its root hash, then every data and hash block. The
// admin certificate is the one the signed UKI's initramfs carries (the
// init's trust anchor), and it must be the one the signed manifest pins
// (keys.admin).
func checkConfig(ctx context.Context, add addFunc, dir string, m *manifest.Manifest, part *gpt.Partition) {
	if part == nil {
		add("config", Disk, checklist.Skip, "no config partition")
		return
	}
	cert, err := adminCertOf(dir, m)
	if err != nil {
		add("config", UKI, checklist.Fail, "the admin certificate: %v", trimDir(err, dir))
		return
	}
	if fp := configpart.Fingerprint(cert); fp != m.Keys.Admin {
		add("config", UKI, checklist.Fail, "the initramfs's admin certificate %s is not the one the manifest pins (%s)", fp, m.Keys.Admin)
		return
	}
	f, err := OpenArtifact(dir, Disk)
	if err != nil {
		add("config", Disk, checklist.Fail, "%v", trimDir(err, dir))
		return
	}
	defer f.Close()
	r := io.NewSectionReader(f, part.Offset(gpt.SectorSize), part.Size(gpt.SectorSize))
	l, err := configpart.Verify(ctx, r, r.Size(), cert)
	if err != nil {
		add("config", Disk, checklist.Fail, "config partition %d: %v", part.Number, err)
		return
	}
	root := hex.EncodeToString(l.Verity.RootHash)
	if m.Config != nil && m.Config.RootHash != "" && m.Config.RootHash != root {
		add("config", Disk, checklist.Fail, "config partition %d has root hash %s, the manifest says %s", part.Number, root, m.Config.RootHash)
		return
	}
	add("config", Disk, checklist.OK, "config partition %d signed by the admin certificate %s; %d data blocks match root hash %s",
		part.Number, m.Keys.Admin, l.Verity.DataBlocks, root)
}

// adminCertOf reads the admin certificate out of the UKI's initramfs.
func adminCertOf(dir string, m *manifest.Manifest) (*x509.Certificate, error) {
	img, err := ReadArtifact(dir, UKI, m.Artifacts[UKI].Size)
	if err != nil {
		return nil, err
	}
	secs, err := uki.Sections(img)
	if err != nil {
		return nil, err
	}
	for _, s := range secs {
		if s.Name != ".initrd" {
			continue
		}
		data := img[s.Offset : s.Offset+min(s.RawSize, s.VirtualSize)]
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: initramfs: %w", UKI, err)
		}
		b, err := cpio.Find(zr, bootparams.AdminCertPath, 64<<10)
		if err != nil {
			return nil, fmt.Errorf("%s: initramfs: %w", UKI, err)
		}
		blk, _ := pem.Decode(b)
		if blk == nil || blk.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s: initramfs: /%s is not a PEM certificate", UKI, bootparams.AdminCertPath)
		}
		return x509.ParseCertificate(blk.Bytes)
	}
	return nil, fmt.Errorf("%s has no .initrd section", UKI)
}
