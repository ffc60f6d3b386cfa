package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"

	"github.com/hardenvm/hardenvm/internal/ctxio"
	"github.com/hardenvm/hardenvm/internal/tty"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/manifest"
)

// Options are what Push and Pull need besides the image and reference.
type Options struct {
	// Trust anchors: the image must verify against them.
	Trust imagedir.Trust
	// Remote adds go-containerregistry options (tests: a transport).
	Remote []remote.Option
	Log    *slog.Logger
	// PlainHTTP allows plain HTTP to registries that are not on
	// loopback (--plain-http); otherwise only loopback gets it.
	PlainHTTP bool
	// CACert is a PEM file of CA certificates trusted besides the
	// system's (--ca-cert), for registries with a private CA.
	CACert string
	// Transport is the HTTP transport under the plain-HTTP guard
	// (tests); one with the network bounds when nil.
	Transport http.RoundTripper
	// Steps, when not nil, shows a person at a terminal each step
	// (verifying, each artifact's upload or download).
	Steps *tty.Steps
}

func (o *Options) log() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}

func (o *Options) remote(ctx context.Context) ([]remote.Option, error) {
	tr, err := o.transport()
	if err != nil {
		return nil, err
	}
	return append([]remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithUserAgent("hardenvm"),
		remote.WithTransport(tr),
	}, o.Remote...), nil
}

// Result says what was pushed or pulled.
type Result struct {
	// Ref is the reference as given; Digest the image manifest's digest
	// and Signature the digest of the bundle's referrer manifest.
	Ref       string `json:"ref"`
	Digest    string `json:"digest"`
	Signature string `json:"signature"`
}

// rawManifest is a manifest to PUT as it is.
type rawManifest struct {
	b  []byte
	mt types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.b, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

// fileLayer is a blob on disk with a known digest.
type fileLayer struct {
	path   string
	digest v1.Hash
	size   int64
	mt     types.MediaType
}

func (l *fileLayer) Digest() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) DiffID() (v1.Hash, error)             { return l.digest, nil }
func (l *fileLayer) Compressed() (io.ReadCloser, error)   { return os.Open(l.path) }
func (l *fileLayer) Uncompressed() (io.ReadCloser, error) { return os.Open(l.path) }
func (l *fileLayer) Size() (int64, error)                 { return l.size, nil }
func (l *fileLayer) MediaType() (types.MediaType, error)  { return l.mt, nil }

type titled struct {
	title string
	layer v1.Layer
}

// Push verifies the image directory dir and pushes it to ref.
func Push(ctx context.Context, dir, ref string, o Options) (*Result, error) {
	o.Steps.Begin("verifying %s", dir)
	r, err := imagedir.Verify(ctx, dir, o.Trust)
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("push: refusing to publish an image that does not verify: %w", err)
	}
	return push(ctx, dir, ref, o)
}

// push pushes dir without verifying it (tests use it to publish bad
// images).
func push(ctx context.Context, dir, ref string, o Options) (*Result, error) {
	tag, err := name.ParseReference(ref, o.nameOptions()...)
	if err != nil {
		return nil, fmt.Errorf("push: %q is not an image reference (want HOST/REPOSITORY:TAG): %w", ref, err)
	}
	rawM, err := os.ReadFile(filepath.Join(dir, imagedir.Manifest))
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	m, err := manifest.Parse(rawM)
	if err != nil {
		return nil, fmt.Errorf("push: %s: %w", imagedir.Manifest, err)
	}
	bundle, err := os.ReadFile(filepath.Join(dir, imagedir.Bundle))
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	tmp, err := os.MkdirTemp("", "hardenvm-push-")
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	defer os.RemoveAll(tmp)

	layers := []titled{{imagedir.Manifest, static.NewLayer(rawM, MediaTypeManifest)}}
	var names []string
	for n := range m.Artifacts {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if !filepath.IsLocal(n) || filepath.Base(n) != n {
			return nil, fmt.Errorf("push: artifact name %q is not a plain file name", n)
		}
		l, err := artifactLayer(ctx, filepath.Join(dir, n), m.Artifacts[n], tmp, layerMediaType(n))
		if err != nil {
			return nil, fmt.Errorf("push: %s: %w", n, err)
		}
		layers = append(layers, titled{n, l})
	}

	opts, err := o.remote(ctx)
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	repo := tag.Context()
	empty := static.NewLayer([]byte("{}"), mediaTypeEmpty)
	img := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: ArtifactType}
	if img.Config, err = descriptor(empty, nil); err != nil {
		return nil, err
	}
	img.Config.MediaType = mediaTypeEmpty
	if err := upload(repo, empty, opts, o.log()); err != nil {
		return nil, registryError("push", ref, err)
	}
	for _, l := range layers {
		size, _ := l.layer.Size()
		o.Steps.Begin("uploading %s (%s)", l.title, tty.MiB(size))
		if err := upload(repo, l.layer, opts, o.log()); err != nil {
			return nil, registryError("push", ref, err)
		}
		d, err := descriptor(l.layer, map[string]string{annotationTitle: l.title})
		if err != nil {
			return nil, err
		}
		img.Layers = append(img.Layers, d)
	}
	imgRaw, err := json.Marshal(img)
	if err != nil {
		return nil, fmt.Errorf("push: BUG: %w", err)
	}
	if err := remote.Put(tag, rawManifest{imgRaw, types.OCIManifestSchema1}, opts...); err != nil {
		return nil, registryError("push", ref, err)
	}
	imgDigest, imgSize, _ := v1.SHA256(bytes.NewReader(imgRaw))
	o.log().Info("pushed image manifest", "ref", ref, "digest", imgDigest)

	// The bundle, as a referrer of the image manifest.
	o.Steps.Begin("uploading the signature (%s)", imagedir.Bundle)
	bl := static.NewLayer(bundle, MediaTypeBundle)
	if err := upload(repo, bl, opts, o.log()); err != nil {
		return nil, registryError("push", ref, err)
	}
	sig := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: MediaTypeBundle,
		Config:  img.Config,
		Subject: &v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: imgDigest, Size: imgSize}}
	d, err := descriptor(bl, map[string]string{annotationTitle: imagedir.Bundle})
	if err != nil {
		return nil, err
	}
	sig.Layers = []v1.Descriptor{d}
	sigRaw, err := json.Marshal(sig)
	if err != nil {
		return nil, fmt.Errorf("push: BUG: %w", err)
	}
	sigDigest, _, _ := v1.SHA256(bytes.NewReader(sigRaw))
	if err := remote.Put(repo.Digest(sigDigest.String()), rawManifest{sigRaw, types.OCIManifestSchema1}, opts...); err != nil {
		return nil, registryError("push", ref, err)
	}
	o.log().Info("pushed signature", "ref", ref, "digest", sigDigest)
	return &Result{Ref: ref, Digest: imgDigest.String(), Signature: sigDigest.String()}, nil
}

func upload(repo name.Repository, l v1.Layer, opts []remote.Option, log *slog.Logger) error {
	d, _ := l.Digest()
	log.Debug("uploading blob", "repo", repo, "digest", d)
	return remote.WriteLayer(repo, l, opts...)
}

func descriptor(l v1.Layer, ann map[string]string) (v1.Descriptor, error) {
	d, err := l.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	n, err := l.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt, err := l.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Digest: d, Size: n, Annotations: ann}, nil
}

// artifactLayer makes the layer of one artifact. Uncompressed artifacts
// are uploaded from the file itself, under the manifest's digest (the
// registry refuses the upload if the file changed since). A compressed
// one is written to tmp first, and its uncompressed digest checked
// against the manifest's.
func artifactLayer(ctx context.Context, path string, want manifest.File, tmp, mt string) (v1.Layer, error) {
	if !compressed(mt) {
		h, err := v1.NewHash("sha256:" + want.SHA256)
		if err != nil {
			return nil, fmt.Errorf("manifest digest: %w", err)
		}
		return &fileLayer{path: path, digest: h, size: want.Size, mt: types.MediaType(mt)}, nil
	}
	in, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	out, err := os.CreateTemp(tmp, "layer-")
	if err != nil {
		return nil, err
	}
	defer out.Close()
	blobHash := sha256.New()
	enc, err := zstd.NewWriter(io.MultiWriter(out, blobHash), zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return nil, err
	}
	fileHash := sha256.New()
	n, err := io.Copy(io.MultiWriter(enc, fileHash), ctxio.Reader(ctx, in))
	if err != nil {
		enc.Close()
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	if got := hex.EncodeToString(fileHash.Sum(nil)); got != want.SHA256 || n != want.Size {
		return nil, fmt.Errorf("changed since it was verified: sha256 %s (%d bytes), the manifest says %s (%d bytes)", got, n, want.SHA256, want.Size)
	}
	st, err := out.Stat()
	if err != nil {
		return nil, err
	}
	h := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(blobHash.Sum(nil))}
	return &fileLayer{path: out.Name(), digest: h, size: st.Size(), mt: types.MediaType(mt)}, nil
}
