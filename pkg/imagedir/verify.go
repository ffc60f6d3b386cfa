package imagedir

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/pkg/authenticode"
	"github.com/hardenvm/hardenvm/pkg/checklist"
	"github.com/hardenvm/hardenvm/pkg/gpt"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/sign"
	"github.com/hardenvm/hardenvm/pkg/verity"
)

// Trust are the trust anchors.
type Trust struct {
	// PublicKey is the artifact-signing public key (signing.pub). Required.
	PublicKey crypto.PublicKey
	// DBCert, when set, is the only certificate the UKI may be signed by.
	DBCert *x509.Certificate
}

// Verify checks a built image directory before anyone trusts it: the
// sigstore bundle over the manifest, then everything the signed manifest
// vouches for.
//
// The checks, in order, each reported on its own:
//
//   - bundle: the bundle is a valid signature over the manifest by the
//     artifact-signing key (pkg/sign).
//   - hardened: the manifest is not that of an unhardened benchmark
//     image (manifest.CheckHardened); if it is, nothing else is checked.
//   - digest: every artifact the manifest lists has its SHA-256 and size;
//     the manifest must list the Required artifacts, the files `hardenvm
//     run` hands to QEMU.
//   - verity: the root partition of the disk checks against its dm-verity
//     partition and the manifest's root hash, and the two partitions' UUIDs
//     are the halves of that root hash (the Discoverable Partitions rule
//     the guest finds them by).
//   - authenticode: the UKI carries a valid Authenticode signature by the
//     db certificate, and its Authenticode digest is the manifest's. The
//     certificate is the one given (Trust.DBCert), or else the UKI's own
//     signer whose SHA-256 the signed manifest names in keys.db: the trust
//     still comes from the artifact-signing key.
//   - sbom: the SBOM the manifest lists parses as CycloneDX and lists every
//     Debian package of the manifest by its SHA-256.
//   - provenance: the provenance bundle, when present, is a DSSE signature
//     by the artifact-signing key over SLSA provenance whose subjects
//     include every listed artifact and the manifest, with their current
//     digests.
//   - config: the config partition's admin signature and blocks, with the
//     admin certificate of the signed UKI's initramfs.
//
// Nothing the manifest says is trusted unless the bundle check passed, so
// a failed bundle check ends the verification. After it, every check runs
// even when one failed, so that a report names every damaged artifact.
// Report.Err fails on any failed check.
func Verify(ctx context.Context, dir string, o Trust) (*checklist.Report, error) {
	if err := CheckImageDir(dir); err != nil {
		return nil, err
	}
	if o.PublicKey == nil {
		return nil, errors.New("verify: no artifact-signing public key")
	}
	r := &checklist.Report{Dir: dir, OK: true}
	add := func(name, artifact string, st checklist.Status, format string, args ...any) {
		r.Add(name, artifact, st, fmt.Sprintf(format, args...))
	}

	// bundle
	rawM, err := VerifiedManifest(dir, o.PublicKey)
	if err != nil {
		artifact := Bundle
		if _, serr := os.Stat(filepath.Join(dir, Manifest)); errors.Is(err, sign.ErrManifestChanged) || serr != nil {
			artifact = Manifest
		}
		add("bundle", artifact, checklist.Fail, "%v", trimDir(err, dir))
		add("manifest", Manifest, checklist.Skip, "no further checks: nothing an unsigned manifest says can be trusted")
		return r, nil
	}
	add("bundle", Manifest, checklist.OK, "signed by the artifact-signing key sha256:%s", sign.Fingerprint(o.PublicKey))

	m, err := manifest.Parse(rawM)
	if err != nil {
		add("manifest", Manifest, checklist.Fail, "%v", err)
		return r, nil
	}
	// An unhardened benchmark image is signed like any other, but what
	// verify vouches for (verity root, signed config, Secure Boot) it
	// lacks by design: it never passes.
	if err := m.CheckHardened(); err != nil {
		add("hardened", Manifest, checklist.Fail, "%v", err)
		return r, nil
	}

	// digest
	found, err := checkDigests(ctx, add, dir, m)
	if err != nil {
		return nil, err
	}

	// verity, from the disk's partition table; then authenticode; then
	// the config partition
	cfg := checkDisk(ctx, add, dir, m)
	checkUKI(add, dir, m, o.DBCert)
	checkSBOM(add, dir, m)
	checkProvenance(add, dir, m, found, o.PublicKey)
	checkConfig(ctx, add, dir, m, cfg)

	return r, nil
}

type addFunc func(name, artifact string, st checklist.Status, format string, args ...any)

// checkDigests checks every artifact the manifest lists against its size
// and SHA-256 (size first: a file of another size is not read). The error
// is for cancellation only.
func checkDigests(ctx context.Context, add addFunc, dir string, m *manifest.Manifest) (map[string]string, error) {
	found := map[string]string{} // name -> sha256 of the file as it is
	names := make([]string, 0, len(m.Artifacts))
	for n := range m.Artifacts {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range Required {
		if _, ok := m.Artifacts[n]; !ok {
			add("digest", n, checklist.Fail, "the manifest does not list %s, so nothing vouches for it", n)
		}
	}
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		want := m.Artifacts[n]
		if !filepath.IsLocal(n) || strings.ContainsAny(n, `/\`) {
			add("digest", n, checklist.Fail, "artifact name %q is not a plain file name", n)
			continue
		}
		got, err := HashArtifact(ctx, dir, n, want)
		if got.SHA256 != "" {
			found[n] = got.SHA256
		}
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			add("digest", n, checklist.Fail, "%v", trimDir(err, dir))
		case got.SHA256 == "":
			add("digest", n, checklist.Fail, "%d bytes, the manifest says %d bytes (not hashed)", got.Size, want.Size)
		case got.SHA256 != want.SHA256 || got.Size != want.Size:
			add("digest", n, checklist.Fail, "sha256 %s (%d bytes), the manifest says %s (%d bytes)", got.SHA256, got.Size, want.SHA256, want.Size)
		default:
			add("digest", n, checklist.OK, "sha256 %s, %d bytes", got.SHA256, got.Size)
		}
	}
	return found, nil
}

// CheckArtifacts checks, without the signing key, what an unsigned look at an
// image directory can: that it has its bundle and that every artifact is
// what the manifest m says (commands like measure, which trust the
// artifacts' own bytes, refuse a damaged image with it). It does not
// check the signature: that is Verify's.
func CheckArtifacts(ctx context.Context, dir string, m *manifest.Manifest) error {
	var first error
	add := func(name, artifact string, st checklist.Status, format string, args ...any) {
		if st == checklist.Fail && first == nil {
			first = fmt.Errorf("%w: %s: %s: %s", checklist.ErrFailed, dir, artifact, fmt.Sprintf(format, args...))
		}
	}
	if f, err := OpenArtifact(dir, Bundle); err != nil {
		add("bundle", Bundle, checklist.Fail, "%v (the image is not signed)", trimDir(err, dir))
	} else {
		f.Close()
	}
	if _, err := checkDigests(ctx, add, dir, m); err != nil {
		return err
	}
	return first
}

// checkDisk runs the verity check and returns the config partition.
func checkDisk(ctx context.Context, add addFunc, dir string, m *manifest.Manifest) *gpt.Partition {
	f, err := OpenArtifact(dir, Disk)
	if err != nil {
		add("verity", Disk, checklist.Fail, "%v", trimDir(err, dir))
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		add("verity", Disk, checklist.Fail, "%v", err)
		return nil
	}
	t, err := gpt.Read(f, st.Size())
	if err != nil {
		add("verity", Disk, checklist.Fail, "partition table: %v", err)
		return nil
	}
	// The root partitions of the manifest's architecture: a disk whose
	// root is another architecture's would not boot on its firmware.
	types, err := gpt.RootTypesOf(m.Architecture())
	if err != nil {
		add("verity", Disk, checklist.Fail, "manifest: %v", err)
		return nil
	}
	var root, ver, cfg *gpt.Partition
	for i, p := range t.Partitions {
		switch {
		case p.Type == types.Root:
			root = &t.Partitions[i]
		case p.Type == types.Verity:
			ver = &t.Partitions[i]
		case p.Name == bootparams.PartitionConfig:
			cfg = &t.Partitions[i]
		}
	}
	checkVerity(ctx, add, f, t, root, ver, m)
	return cfg
}

func checkVerity(ctx context.Context, add addFunc, f *os.File, t *gpt.Table, root, ver *gpt.Partition, m *manifest.Manifest) {
	if root == nil || ver == nil {
		add("verity", Disk, checklist.Fail, "no %s root and root-verity partitions in the partition table", m.Architecture())
		return
	}
	want, err := hex.DecodeString(m.Root.RootHash)
	if err != nil || len(want) < 32 {
		add("verity", Manifest, checklist.Fail, "the manifest's root hash %q is not a hex digest", m.Root.RootHash)
		return
	}
	if !bytes.Equal(root.GUID[:], want[:16]) || !bytes.Equal(ver.GUID[:], want[len(want)-16:]) {
		add("verity", Disk, checklist.Fail, "partition UUIDs %s/%s are not the halves of the manifest's root hash %s",
			root.GUID, ver.GUID, m.Root.RootHash)
		return
	}
	ss := t.SectorSize
	data := io.NewSectionReader(f, root.Offset(ss), root.Size(ss))
	hash := io.NewSectionReader(f, ver.Offset(ss), ver.Size(ss))
	res, err := verity.Verify(ctx, data, data.Size(), hash, hash.Size(), want)
	if err != nil {
		add("verity", Disk, checklist.Fail, "root partition %d: %v", root.Number, err)
		return
	}
	add("verity", Disk, checklist.OK, "root partition %d (%d blocks of %d) matches root hash %s", root.Number, res.DataBlocks, res.DataBlockSize, m.Root.RootHash)
}

func checkUKI(add addFunc, dir string, m *manifest.Manifest, pinned *x509.Certificate) {
	img, err := ReadArtifact(dir, UKI, MaxUKI)
	if err != nil {
		add("authenticode", UKI, checklist.Fail, "%v", trimDir(err, dir))
		return
	}
	if m.Keys.DB == "" && pinned == nil {
		add("authenticode", Manifest, checklist.Fail, "the manifest names no db certificate (keys.db) and none was given")
		return
	}
	cert := pinned
	if pinned != nil {
		if fp := fingerprint(pinned); m.Keys.DB != "" && fp != m.Keys.DB {
			add("authenticode", Manifest, checklist.Fail, "the manifest's db certificate is sha256:%s, the one given is sha256:%s", m.Keys.DB, fp)
			return
		}
	} else {
		signers, err := authenticode.Signers(img)
		if err != nil {
			add("authenticode", UKI, checklist.Fail, "%v", err)
			return
		}
		for _, c := range signers {
			if fingerprint(c) == m.Keys.DB {
				cert = c
			}
		}
		if cert == nil {
			add("authenticode", UKI, checklist.Fail, "not signed by the db certificate the manifest names (sha256:%s)", m.Keys.DB)
			return
		}
	}
	if err := authenticode.Verify(img, cert); err != nil {
		add("authenticode", UKI, checklist.Fail, "%v", err)
		return
	}
	d, err := authenticode.Digest(img)
	if err != nil {
		add("authenticode", UKI, checklist.Fail, "%v", err)
		return
	}
	if got := hex.EncodeToString(d); m.UKI.Authenticode != "" && got != m.UKI.Authenticode {
		add("authenticode", UKI, checklist.Fail, "Authenticode digest %s, the manifest says %s", got, m.UKI.Authenticode)
		return
	}
	add("authenticode", UKI, checklist.OK, "signed by %q (sha256:%s)", cert.Subject.CommonName, fingerprint(cert))
}

func fingerprint(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return hex.EncodeToString(s[:])
}

// trimDir keeps error text short: paths inside dir are shown relative.
func trimDir(err error, dir string) string {
	return strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
}
