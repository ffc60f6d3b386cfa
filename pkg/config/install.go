package config

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/pkg/attest"
	"github.com/hardenvm/hardenvm/pkg/configpart"
	"github.com/hardenvm/hardenvm/pkg/disk"
	"github.com/hardenvm/hardenvm/pkg/gpt"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/sign"
)

// Describe is the manifest entry of a signed config image.
func Describe(im *Image) *manifest.Config {
	l := im.Layout
	sum := sha256.Sum256(im.Bytes[:l.Size])
	return &manifest.Config{RootHash: l.Signature.RootHash, DataBlocks: l.Verity.DataBlocks, Size: l.Size,
		SHA256: hex.EncodeToString(sum[:]), Signer: l.Signature.CertificateFingerprint}
}

// InstallOptions name the keys Install needs.
type InstallOptions struct {
	// Admin is the admin certificate the image trusts (its fingerprint
	// must be the manifest's keys.admin): the new config must verify
	// with it, or the VM would not boot.
	Admin *keys.Key
	// Signing re-signs the manifest (manifest.sigstore.json). Nil leaves
	// the image directory without a valid bundle: refused.
	Signing *keys.Key
}

// Install writes a signed config image into the config partition of the
// image directory dir's disk.raw, zeroing the rest of the partition, and
// updates and re-signs the manifest. The GPT, the ESP with the signed UKI,
// the root and its verity tree are not touched; the UKI needs no new
// signature because the config is verified by the init with the admin
// certificate, not through the kernel command line.
//
// The disk is rewritten through a sparse copy beside it and renamed over
// the old one, so an interrupted install leaves the old disk.
func Install(ctx context.Context, dir string, im *Image, o InstallOptions) (*manifest.Manifest, error) {
	if o.Admin == nil || o.Admin.Cert == nil || o.Signing == nil {
		return nil, errors.New("config install: the admin certificate and the artifact-signing key are required")
	}
	m, err := manifest.Load(dir)
	if err != nil {
		return nil, err
	}
	if err := sign.VerifyBundle(dir, o.Signing.Public()); err != nil {
		return nil, fmt.Errorf("config install: %s is not signed by this signing key (%w); refusing to re-sign it", dir, err)
	}
	if fp := configpart.Fingerprint(o.Admin.Cert); m.Keys.Admin != fp {
		return nil, fmt.Errorf("config install: the image trusts admin certificate %s, not %s: a config signed with it would not boot", m.Keys.Admin, fp)
	}
	// The verified layout carries the root hash the init will measure
	// into PCR 15 (a layout only read from a file does not).
	layout, err := Verify(ctx, im.Bytes, o.Admin.Cert)
	if err != nil {
		return nil, fmt.Errorf("config install: %w", err)
	}
	diskPath := filepath.Join(dir, "disk.raw")
	if f, ok := m.Artifacts["disk.raw"]; ok {
		got, err := manifest.HashFile(diskPath)
		if err != nil {
			return nil, err
		}
		if got.SHA256 != f.SHA256 {
			return nil, fmt.Errorf("config install: %s does not match the manifest (sha256 %s, manifest %s)", diskPath, got.SHA256, f.SHA256)
		}
	}
	t, err := gpt.ReadFile(diskPath)
	if err != nil {
		return nil, fmt.Errorf("config install: %w", err)
	}
	var part *gpt.Partition
	for i, p := range t.Partitions {
		if p.Name == disk.NameConfig {
			if part != nil {
				return nil, fmt.Errorf("config install: %s has more than one %s partition", diskPath, disk.NameConfig)
			}
			part = &t.Partitions[i]
		}
	}
	if part == nil {
		return nil, fmt.Errorf("config install: %s has no %s partition (built before config partitions existed?): rebuild the image", diskPath, disk.NameConfig)
	}
	off, size := part.Offset(gpt.SectorSize), part.Size(gpt.SectorSize)
	if int64(len(im.Bytes)) > size {
		return nil, fmt.Errorf("config install: the config image is %d bytes, the partition holds %d", len(im.Bytes), size)
	}
	if err := rewrite(diskPath, off, size, im.Bytes); err != nil {
		return nil, fmt.Errorf("config install: %w", err)
	}
	f, err := manifest.HashFile(diskPath)
	if err != nil {
		return nil, err
	}
	m.Artifacts["disk.raw"] = f
	m.Config = Describe(im)
	if m.PCRs != nil {
		// The init measures the config root hash into PCR 15: predict
		// again, keeping the firmware's golden values.
		in, _, err := attest.Load(dir)
		if err != nil {
			return nil, err
		}
		in.ConfigRootHash = layout.Verity.RootHash
		p, err := attest.Predict(in)
		if err != nil {
			return nil, err
		}
		p.Firmware = m.PCRs.Firmware
		m.PCRs = p
	}
	if err := m.Write(dir); err != nil {
		return nil, err
	}
	if err := sign.Sign(dir, o.Signing.Signer); err != nil {
		return nil, err
	}
	return m, nil
}

// rewrite copies path sparsely to a new file with [off, off+size)
// replaced by data and zeros, then renames it over path.
func rewrite(path string, off, size int64, data []byte) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	out, err := atomicfile.Create(path, st.Mode().Perm())
	if err != nil {
		return err
	}
	defer out.Abort()
	if err := out.Truncate(st.Size()); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	zero := make([]byte, 64<<10)
	for pos := int64(0); pos < st.Size(); {
		n, rerr := src.ReadAt(buf, pos)
		for i := 0; i < n; i += len(zero) {
			end := min(i+len(zero), n)
			b := buf[i:end]
			at := pos + int64(i)
			if at+int64(len(b)) > off && at < off+size {
				continue // the partition: written below
			}
			if bytes.Equal(b, zero[:len(b)]) {
				continue
			}
			if _, err := out.WriteAt(b, at); err != nil {
				return err
			}
		}
		pos += int64(n)
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	// Chunks overlapping the partition's edges: copy the parts outside.
	for _, edge := range [][2]int64{{off - int64(len(zero)), off}, {off + size, off + size + int64(len(zero))}} {
		lo, hi := max(edge[0], 0), min(edge[1], st.Size())
		if lo >= hi {
			continue
		}
		b := make([]byte, hi-lo)
		if _, err := src.ReadAt(b, lo); err != nil && err != io.EOF {
			return err
		}
		if _, err := out.WriteAt(b, lo); err != nil {
			return err
		}
	}
	if _, err := out.WriteAt(data, off); err != nil {
		return err
	}
	return out.Commit()
}
