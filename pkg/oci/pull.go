package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/internal/ctxio"
	"github.com/hardenvm/hardenvm/internal/tty"
	"github.com/hardenvm/hardenvm/pkg/checklist"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/sign"
)

// ErrNotVerified is matched by Pull's errors when the image was found but
// does not verify (nothing is written then).
var ErrNotVerified = errors.New("image does not verify")

// Pull downloads the image at ref into the image directory dir, verifying
// it first. dir must not exist, or be an image directory (holding a
// manifest), which is then replaced as a whole.
func Pull(ctx context.Context, ref, dir string, o Options) (*Result, *checklist.Report, error) {
	if o.Trust.PublicKey == nil {
		return nil, nil, errors.New("pull: no artifact-signing public key to verify with")
	}
	if err := checkTarget(dir); err != nil {
		return nil, nil, err
	}
	r, err := name.ParseReference(ref, o.nameOptions()...)
	if err != nil {
		return nil, nil, fmt.Errorf("pull: %q is not an image reference (want HOST/REPOSITORY:TAG or @sha256:…): %w", ref, err)
	}
	opts, err := o.remote(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("pull: %w", err)
	}
	desc, err := remote.Get(r, opts...)
	if err != nil {
		return nil, nil, registryError("pull", ref, err)
	}
	var img v1.Manifest
	if desc.MediaType != types.OCIManifestSchema1 || json.Unmarshal(desc.Manifest, &img) != nil || img.ArtifactType != ArtifactType {
		return nil, nil, fmt.Errorf("pull: %s is not a hardenvm image (media type %s, artifactType %q; want an OCI manifest with artifactType %s)",
			ref, desc.MediaType, img.ArtifactType, ArtifactType)
	}
	repo := r.Context()
	res := &Result{Ref: ref, Digest: desc.Digest.String()}

	// the manifest and its signature, before anything else.
	layers := map[string]v1.Descriptor{}
	for _, l := range img.Layers {
		t := l.Annotations[annotationTitle]
		if !filepath.IsLocal(t) || filepath.Base(t) != t {
			return nil, nil, fmt.Errorf("pull: %s: %w: layer %s has title %q, not a plain file name", ref, ErrNotVerified, l.Digest, t)
		}
		if _, dup := layers[t]; dup {
			return nil, nil, fmt.Errorf("pull: %s: %w: two layers are titled %q", ref, ErrNotVerified, t)
		}
		if string(l.MediaType) != layerMediaType(t) {
			return nil, nil, fmt.Errorf("pull: %s: %w: layer %q has media type %s, want %s", ref, ErrNotVerified, t, l.MediaType, layerMediaType(t))
		}
		layers[t] = l
	}
	md, ok := layers[imagedir.Manifest]
	if !ok {
		return nil, nil, fmt.Errorf("pull: %s: %w: no %s layer", ref, ErrNotVerified, imagedir.Manifest)
	}
	o.Steps.Begin("fetching %s and its signature", imagedir.Manifest)
	rawM, err := fetchSmall(repo, md, maxManifestJSON, opts)
	if err != nil {
		return nil, nil, registryError("pull", ref, err)
	}
	bundle, sigDigest, err := findSignature(ctx, repo, desc.Digest, rawM, o, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("pull: %s: %w", ref, err)
	}
	res.Signature = sigDigest
	m, err := manifest.Parse(rawM)
	if err != nil {
		return nil, nil, fmt.Errorf("pull: %s: %w: %s: %v", ref, ErrNotVerified, imagedir.Manifest, err)
	}
	for t := range layers {
		if _, ok := m.Artifacts[t]; !ok && t != imagedir.Manifest {
			return nil, nil, fmt.Errorf("pull: %s: %w: layer %q is not an artifact the signed manifest lists", ref, ErrNotVerified, t)
		}
	}
	for n := range m.Artifacts {
		if _, ok := layers[n]; !ok {
			return nil, nil, fmt.Errorf("pull: %s: %w: %s is in the signed manifest but not in the image", ref, ErrNotVerified, n)
		}
	}

	// Download into a staging directory; it becomes dir only once all
	// of it verifies.
	if err := os.MkdirAll(filepath.Dir(filepath.Clean(dir)), 0o755); err != nil {
		return nil, nil, fmt.Errorf("pull: %w", err)
	}
	out, err := atomicfile.CreateDir(dir, 0o755)
	if err != nil {
		return nil, nil, fmt.Errorf("pull: %w", err)
	}
	defer out.Abort()
	if err := os.WriteFile(filepath.Join(out.Path, imagedir.Manifest), rawM, 0o644); err != nil {
		return nil, nil, fmt.Errorf("pull: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out.Path, imagedir.Bundle), bundle, 0o644); err != nil {
		return nil, nil, fmt.Errorf("pull: %w", err)
	}
	for n, want := range m.Artifacts {
		o.log().Info("downloading", "artifact", n, "size", want.Size)
		o.Steps.Begin("downloading %s (%s)", n, tty.MiB(want.Size))
		if err := fetchArtifact(ctx, repo, layers[n], filepath.Join(out.Path, n), want, opts); err != nil {
			if errors.Is(err, ErrNotVerified) {
				return nil, nil, fmt.Errorf("pull: %s: %s: %w", ref, n, err)
			}
			return nil, nil, registryError("pull", ref+": "+n, err)
		}
	}
	o.Steps.Begin("verifying the image")
	rep, err := imagedir.Verify(ctx, out.Path, o.Trust)
	if err != nil {
		return nil, nil, fmt.Errorf("pull: %w", err)
	}
	rep.Dir = dir
	if err := rep.Err(); err != nil {
		return nil, rep, fmt.Errorf("pull: %s: %w: %w", ref, ErrNotVerified, err)
	}
	if err := out.Commit(); err != nil {
		return nil, nil, fmt.Errorf("pull: %w", err)
	}
	return res, rep, nil
}

// checkTarget refuses to replace a directory that is not an image.
func checkTarget(dir string) error {
	if err := imagedir.CheckReplaceable(dir); err != nil {
		return fmt.Errorf("pull: %w", err)
	}
	return nil
}

// findSignature returns the first bundle among the image's sigstore
// referrers that verifies rawM with the trusted key.
func findSignature(ctx context.Context, repo name.Repository, subject v1.Hash, rawM []byte, o Options, opts []remote.Option) ([]byte, string, error) {
	// No artifactType filter: some registries report a referrer's config
	// media type as its artifactType, and go-containerregistry would then
	// filter the bundle out on the client side. Each candidate's own
	// manifest is checked below.
	idx, err := remote.Referrers(repo.Digest(subject.String()), opts...)
	if err != nil {
		return nil, "", registryError("signature", "", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, "", fmt.Errorf("signature: %w", err)
	}
	var last error
	tried := 0
	for _, d := range im.Manifests {
		if d.ArtifactType != MediaTypeBundle && d.ArtifactType != mediaTypeEmpty {
			continue
		}
		if tried++; tried > maxReferrers {
			break
		}
		desc, err := remote.Get(repo.Digest(d.Digest.String()), opts...)
		if err != nil {
			last = registryError("signature", "", err)
			continue
		}
		var sm v1.Manifest
		if err := json.Unmarshal(desc.Manifest, &sm); err != nil || sm.ArtifactType != MediaTypeBundle || len(sm.Layers) != 1 || sm.Layers[0].MediaType != MediaTypeBundle ||
			sm.Subject == nil || sm.Subject.Digest != subject {
			last = fmt.Errorf("%w: referrer %s is not a sigstore bundle for this image", ErrNotVerified, d.Digest)
			continue
		}
		b, err := fetchSmall(repo, sm.Layers[0], maxBundle, opts)
		if err != nil {
			last = registryError("signature", "", err)
			continue
		}
		if err := sign.VerifyBytes(rawM, b, o.Trust.PublicKey); err != nil {
			last = fmt.Errorf("%w: %s: %w", ErrNotVerified, imagedir.Bundle, err)
			continue
		}
		return b, d.Digest.String(), nil
	}
	if last == nil {
		return nil, "", fmt.Errorf("%w: the image is not signed (no %s referrer)", ErrNotVerified, MediaTypeBundle)
	}
	return nil, "", last
}

// fetchSmall reads a small blob, checking its digest and size.
func fetchSmall(repo name.Repository, d v1.Descriptor, max int64, opts []remote.Option) ([]byte, error) {
	if d.Size > max || d.Size < 0 {
		return nil, fmt.Errorf("%w: blob %s claims %d bytes, more than the %d allowed", ErrNotVerified, d.Digest, d.Size, max)
	}
	l, err := remote.Layer(repo.Digest(d.Digest.String()), opts...)
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(b)
	if int64(len(b)) != d.Size || "sha256:"+hex.EncodeToString(h[:]) != d.Digest.String() {
		return nil, fmt.Errorf("%w: blob %s has sha256:%x (%d bytes)", ErrNotVerified, d.Digest, h, len(b))
	}
	return b, nil
}

// fetchArtifact downloads one artifact to path, decompressing it if its
// layer is compressed, writing runs of zeros as holes, and checks it
// against the signed manifest.
func fetchArtifact(ctx context.Context, repo name.Repository, d v1.Descriptor, path string, want manifest.File, opts []remote.Option) error {
	l, err := remote.Layer(repo.Digest(d.Digest.String()), opts...)
	if err != nil {
		return err
	}
	rc, err := l.Compressed() // go-containerregistry checks the blob's digest at EOF
	if err != nil {
		return err
	}
	defer rc.Close()
	var src io.Reader = ctxio.Reader(ctx, rc)
	if compressed(string(d.MediaType)) {
		dec, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return err
		}
		defer dec.Close()
		src = dec
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	// Read one byte past the signed size, to notice a longer stream.
	n, err := writeSparse(f, io.TeeReader(io.LimitReader(src, want.Size+1), h))
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want.SHA256 || n != want.Size {
		return fmt.Errorf("%w: sha256 %s (%d bytes), the signed manifest says %s (%d bytes)", ErrNotVerified, got, n, want.SHA256, want.Size)
	}
	// Drain to the end so that the blob digest check runs.
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return err
	}
	return f.Close()
}

// writeSparse copies r to f, seeking over all-zero 4 KiB blocks.
func writeSparse(f *os.File, r io.Reader) (int64, error) {
	const block = 4096
	buf := make([]byte, 1<<20)
	var off int64
	for {
		n, rerr := io.ReadFull(r, buf)
		for i := 0; i < n; i += block {
			b := buf[i:min(i+block, n)]
			if !bytes.Equal(b, zeros[:len(b)]) {
				if _, err := f.WriteAt(b, off+int64(i)); err != nil {
					return off, err
				}
			}
		}
		off += int64(n)
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return off, rerr
		}
	}
	return off, f.Truncate(off)
}

var zeros = make([]byte, 4096)
