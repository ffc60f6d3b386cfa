package imagedir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/internal/ctxio"
	"github.com/hardenvm/hardenvm/internal/sparse"
	"github.com/hardenvm/hardenvm/pkg/configimage"
	"github.com/hardenvm/hardenvm/pkg/configpart"
	"github.com/hardenvm/hardenvm/pkg/gpt"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/pcr"
)

// InstallOptions name the keys Install needs.
type InstallOptions struct {
	// Admin is the admin certificate the image trusts (its fingerprint
	// must be the manifest's keys.admin): the new config must verify
	// with it, or the VM would not boot.
	Admin *keys.Key
	// Signing re-signs the manifest (its bundle). Nil leaves
	// the image directory without a valid bundle: refused.
	Signing *keys.Key
}

// InstallSteps are the points of Install at which StepHook is called, in
// order: the image and the new config were checked; the other artifacts
// were copied to the staging directory; the new disk, manifest and bundle
// were written there; the staging directory verified.
var InstallSteps = []string{"checked", "copied", "disk", "manifest", "signed", "verified"}

// StepHook, when not nil, is called at each of InstallSteps; an error it
// returns fails the install there. For tests (failure and kill injection)
// only.
var StepHook func(ctx context.Context, step string) error

// Install writes a signed config image into the config partition of the
// image directory dir's disk, zeroing the rest of the partition, and
// updates and re-signs the manifest (the PCR 15 prediction included). The
// GPT, the ESP with the signed UKI, the root and its verity tree are not
// touched; the UKI needs no new signature because the config is verified by
// the init with the admin certificate, not through the kernel command line.
//
// It is all or nothing: dir must verify first (Install never re-signs
// damage); the new directory is made in a staging directory beside it and
// verified there, and only then swapped in with one rename. A failure,
// cancellation or kill at any point leaves dir as it was.
func Install(ctx context.Context, dir string, im *configimage.Image, o InstallOptions) (*manifest.Manifest, error) {
	if o.Admin == nil || o.Admin.Cert == nil || o.Signing == nil {
		return nil, errors.New("config install: the admin certificate and the artifact-signing key are required")
	}
	dir = filepath.Clean(dir)
	if err := CheckImageDir(dir); err != nil {
		return nil, fmt.Errorf("config install: %w", err)
	}
	raw, err := VerifiedManifest(dir, o.Signing.Public())
	if err != nil {
		return nil, fmt.Errorf("config install: %s is not signed by this signing key (%w); refusing to re-sign it", dir, err)
	}
	if err := CheckReplaceable(dir); err != nil {
		return nil, fmt.Errorf("config install: %w", err)
	}
	rep, err := Verify(ctx, dir, Trust{PublicKey: o.Signing.Public()})
	if err != nil {
		return nil, fmt.Errorf("config install: %w", err)
	}
	if err := rep.Err(); err != nil {
		return nil, fmt.Errorf("config install: refusing to re-sign an image that does not verify: %w", err)
	}
	m, err := manifest.Parse(raw) // the bytes the bundle signs
	if err != nil {
		return nil, fmt.Errorf("config install: %w", err)
	}
	d := &Dir{Path: dir, Manifest: m}
	if fp := configpart.Fingerprint(o.Admin.Cert); m.Keys.Admin != fp {
		return nil, fmt.Errorf("config install: the image trusts admin certificate %s, not %s: a config signed with it would not boot", m.Keys.Admin, fp)
	}
	// The verified layout carries the root hash the init will measure
	// into PCR 15 (a layout only read from the image does not).
	layout, err := configimage.Verify(ctx, im.Bytes, o.Admin.Cert)
	if err != nil {
		return nil, fmt.Errorf("config install: %w", err)
	}
	diskPath := d.File(Disk)
	t, err := gpt.ReadFile(diskPath)
	if err != nil {
		return nil, fmt.Errorf("config install: %w", err)
	}
	var part *gpt.Partition
	for i, p := range t.Partitions {
		if p.Name == bootparams.PartitionConfig {
			if part != nil {
				return nil, fmt.Errorf("config install: %s has more than one %s partition", diskPath, bootparams.PartitionConfig)
			}
			part = &t.Partitions[i]
		}
	}
	if part == nil {
		return nil, fmt.Errorf("config install: %s has no %s partition (built before config partitions existed?): rebuild the image", diskPath, bootparams.PartitionConfig)
	}
	off, size := part.Offset(gpt.SectorSize), part.Size(gpt.SectorSize)
	if int64(len(im.Bytes)) > size {
		return nil, fmt.Errorf("config install: the config image is %d bytes, the partition holds %d", len(im.Bytes), size)
	}
	if err := step(ctx, "checked"); err != nil {
		return nil, err
	}

	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("config install: %w", err)
	}
	out, err := atomicfile.CreateDir(dir, st.Mode().Perm())
	if err != nil {
		return nil, fmt.Errorf("config install: %w", err)
	}
	defer out.Abort()
	if err := copyOthers(ctx, dir, out.Path); err != nil {
		return nil, fmt.Errorf("config install: %w", err)
	}
	if err := step(ctx, "copied"); err != nil {
		return nil, err
	}
	if err := rewrite(ctx, diskPath, filepath.Join(out.Path, Disk), off, size, im.Bytes); err != nil {
		return nil, fmt.Errorf("config install: %w", err)
	}
	if err := step(ctx, "disk"); err != nil {
		return nil, err
	}
	f, err := manifest.HashFile(filepath.Join(out.Path, Disk))
	if err != nil {
		return nil, fmt.Errorf("config install: %w", err)
	}
	m.Artifacts[Disk] = f
	// The other formats of the disk are written again from the new one.
	for _, format := range DiskFormats(m) {
		name, _ := DiskFile(format)
		if m.Artifacts[name], err = WriteDiskFormat(ctx, out.Path, format); err != nil {
			return nil, fmt.Errorf("config install: %w", err)
		}
	}
	m.Config = configimage.Describe(im)
	if m.PCRs != nil {
		// The init measures the config root hash into PCR 15: predict
		// again, keeping the firmware's golden values. The UKI, the
		// variable store and the partition table are dir's.
		in, err := d.PredictionInput()
		if err != nil {
			return nil, err
		}
		in.ConfigRootHash = layout.Verity.RootHash
		p, err := pcr.Predict(in)
		if err != nil {
			return nil, err
		}
		p.Firmware = m.PCRs.Firmware
		m.PCRs = p
	}
	if err := WriteManifest(out.Path, m); err != nil {
		return nil, err
	}
	if err := step(ctx, "manifest"); err != nil {
		return nil, err
	}
	if err := Sign(out.Path, o.Signing.Signer); err != nil {
		return nil, err
	}
	if err := step(ctx, "signed"); err != nil {
		return nil, err
	}
	// What is swapped in must verify and measure as the manifest says.
	if rep, err = Verify(ctx, out.Path, Trust{PublicKey: o.Signing.Public()}); err == nil {
		err = rep.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("config install: BUG: the new image does not verify: %w", err)
	}
	if m.PCRs != nil {
		again, err := Predict(out.Path)
		if err != nil {
			return nil, err
		}
		if again.Values["15"] != m.PCRs.Values["15"] {
			return nil, fmt.Errorf("config install: BUG: manifest predicts PCR 15 = %s, the new image gives %s", m.PCRs.Values["15"], again.Values["15"])
		}
	}
	if err := step(ctx, "verified"); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("config install: interrupted, %s left as it was: %w", dir, err)
	}
	if err := out.Commit(); err != nil {
		return nil, fmt.Errorf("config install: %w", err)
	}
	return m, nil
}

// step runs StepHook and notices cancellation between steps.
func step(ctx context.Context, name string) error {
	if StepHook != nil {
		if err := StepHook(ctx, name); err != nil {
			return fmt.Errorf("config install: at %s: %w", name, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("config install: interrupted, the image directory left as it was: %w", err)
	}
	return nil
}

// copyOthers copies the image directory's files that Install does not
// rewrite into the staging directory. The build's provenance is left
// behind: it vouches for the disk the build made, which the new one is not
// (the SBOM still holds: the packages are the same). The disk's other
// formats are written again from the new disk.
func copyOthers(ctx context.Context, dir, to string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		switch e.Name() {
		case Disk, DiskQCOW2, DiskVHDX, Manifest, Bundle, Provenance:
			continue
		}
		if err := copyFile(ctx, filepath.Join(dir, e.Name()), filepath.Join(to, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(ctx context.Context, from, to string) error {
	src, dst, _, err := openCopy(from, to)
	if err != nil {
		return err
	}
	defer src.Close()
	defer dst.Close()
	if _, err := io.Copy(dst, ctxio.Reader(ctx, src)); err != nil {
		return fmt.Errorf("copying %s: %w", from, err)
	}
	if err := dst.Sync(); err != nil {
		return err
	}
	return dst.Close()
}

// openCopy opens the regular file from and creates to, which must not
// exist yet, with the same permissions.
func openCopy(from, to string) (src, dst *os.File, size int64, err error) {
	if src, err = os.Open(from); err != nil {
		return nil, nil, 0, err
	}
	st, err := src.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", from)
	}
	if err == nil {
		dst, err = os.OpenFile(to, os.O_RDWR|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	}
	if err != nil {
		src.Close()
		return nil, nil, 0, err
	}
	return src, dst, st.Size(), nil
}

// rewrite copies path sparsely to the new file to, with [off, off+size)
// replaced by data and zeros.
func rewrite(ctx context.Context, path, to string, off, size int64, data []byte) error {
	src, out, total, err := openCopy(path, to)
	if err != nil {
		return err
	}
	defer src.Close()
	defer out.Close()
	if err := out.Truncate(total); err != nil {
		return err
	}
	// What precedes the partition and what follows it; the partition
	// itself reads as zeros but for data.
	for _, r := range [][2]int64{{0, off}, {off + size, total}} {
		n := r[1] - r[0]
		if _, err := sparse.Copy(out, r[0], ctxio.Reader(ctx, io.NewSectionReader(src, r[0], n)), n); err != nil {
			return err
		}
	}
	if _, err := out.WriteAt(data, off); err != nil {
		return err
	}
	if err := out.Sync(); err != nil {
		return err
	}
	return out.Close()
}

// InstallFile installs the config image file image into dir with the keys
// of the key set keyDir (its admin certificate and artifact-signing key).
func InstallFile(ctx context.Context, dir, image, keyDir string) (*manifest.Manifest, error) {
	admin, err := keys.LoadRole(keyDir, keys.Admin)
	if err != nil {
		return nil, err
	}
	signing, err := keys.LoadRole(keyDir, keys.Signing)
	if err != nil {
		return nil, err
	}
	im, err := configimage.ReadImage(image)
	if err != nil {
		return nil, err
	}
	return Install(ctx, dir, im, InstallOptions{Admin: admin, Signing: signing})
}
