package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/hardenvm/hardenvm/internal/imagetest"
	"github.com/hardenvm/hardenvm/internal/registrytest"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/keys"
)

func options(im *imagetest.Image) Options {
	return Options{Trust: imagedir.Trust{PublicKey: im.Keys.Get(keys.Signing).Public()}}
}

// assertSame checks that every file of src is in dst with the same bytes.
func assertSame(t *testing.T, src, dst string) {
	t.Helper()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadDir(dst)
	if len(got) != len(ents) {
		t.Errorf("%s has %d files, %s has %d", dst, len(got), src, len(ents))
	}
	for _, e := range ents {
		a := imagetest.SHA256(t, filepath.Join(src, e.Name()))
		b := imagetest.SHA256(t, filepath.Join(dst, e.Name()))
		if a != b {
			t.Errorf("%s: pulled sha256 %s, pushed %s", e.Name(), b, a)
		}
	}
}

// assertNothingWritten checks that a failed pull left no trace in parent.
func assertNothingWritten(t *testing.T, parent string) {
	t.Helper()
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("a failed pull left %s in %s", e.Name(), parent)
	}
}

func TestPushPullRoundTrip(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, "", "")
	registrytest.DockerConfig(t, reg.Addr, "", "")
	im := imagetest.New(t, imagetest.Options{Config: true})
	ref := reg.Addr + "/hardenvm/test:v1"

	res, err := Push(ctx, im.Dir, ref, options(im))
	if err != nil {
		t.Fatal(err)
	}
	again, err := Push(ctx, im.Dir, ref, options(im))
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != res.Digest {
		t.Errorf("pushing the same image twice gave manifests %s and %s", res.Digest, again.Digest)
	}

	// The artifact as a registry client sees it.
	desc, m := getManifest(t, ref)
	var titles []string
	for _, l := range m.Layers {
		titles = append(titles, l.Annotations[annotationTitle]+" "+string(l.MediaType))
	}
	want := []string{"manifest.json " + MediaTypeManifest, "OVMF_VARS.fd " + MediaTypeVars, "disk.raw " + MediaTypeDisk, "uki.efi " + MediaTypeUKI}
	if desc.MediaType != types.OCIManifestSchema1 || m.ArtifactType != ArtifactType || strings.Join(titles, ",") != strings.Join(want, ",") {
		t.Errorf("image manifest: %s artifactType %q layers %q; want %q", desc.MediaType, m.ArtifactType, titles, want)
	}
	if disk := m.Layers[2]; disk.Size*4 > im.Manifest.Artifacts["disk.raw"].Size {
		t.Errorf("disk.raw layer is %d bytes for a %d-byte sparse disk: not compressed", disk.Size, im.Manifest.Artifacts["disk.raw"].Size)
	}

	for _, r := range []string{ref, reg.Addr + "/hardenvm/test@" + res.Digest} {
		dst := filepath.Join(t.TempDir(), "pulled")
		got, rep, err := Pull(ctx, r, dst, options(im))
		if err != nil {
			t.Fatalf("Pull(%s) = %v", r, err)
		}
		if got.Digest != res.Digest || got.Signature != res.Signature || !rep.OK {
			t.Errorf("Pull = %+v (report ok %v), pushed %+v", got, rep.OK, res)
		}
		assertSame(t, im.Dir, dst)
		// Zeros come back as holes.
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(dst, "disk.raw"), &st); err != nil {
			t.Fatal(err)
		}
		if st.Blocks*512 >= st.Size/2 {
			t.Errorf("pulled disk.raw uses %d bytes for %d: not sparse", st.Blocks*512, st.Size)
		}
	}

	// Pulling over an image directory replaces it; over anything else is
	// refused.
	dst := filepath.Join(t.TempDir(), "img")
	os.MkdirAll(dst, 0o755)
	os.WriteFile(filepath.Join(dst, imagedir.Manifest), []byte("old"), 0o644)
	if _, _, err := Pull(ctx, ref, dst, options(im)); err != nil {
		t.Fatalf("Pull over an image directory: %v", err)
	}
	assertSame(t, im.Dir, dst)
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, "notes.txt"), []byte("mine"), 0o644)
	if _, _, err := Pull(ctx, ref, home, options(im)); err == nil || !strings.Contains(err.Error(), "not an image directory") {
		t.Errorf("Pull over a non-image directory = %v, want a refusal", err)
	}
}

func TestPushRefusesUnverified(t *testing.T) {
	reg := registrytest.Start(t, "", "")
	registrytest.DockerConfig(t, reg.Addr, "", "")
	im := imagetest.New(t, imagetest.Options{})
	b, _ := os.ReadFile(filepath.Join(im.Dir, "OVMF_VARS.fd"))
	b[100] ^= 1
	os.WriteFile(filepath.Join(im.Dir, "OVMF_VARS.fd"), b, 0o644)
	_, err := Push(context.Background(), im.Dir, reg.Addr+"/hardenvm/test:v1", options(im))
	if err == nil || !strings.Contains(err.Error(), "refusing to publish") || !strings.Contains(err.Error(), "OVMF_VARS.fd") {
		t.Errorf("Push(tampered) = %v, want a refusal naming OVMF_VARS.fd", err)
	}
}

// republish rewrites the image at ref the way an attacker with write access
// to the registry would: edit the image manifest, upload any new blobs, and
// attach the original (still valid) bundle to the new manifest.
func republish(t *testing.T, ref string, edit func(m *v1.Manifest, repo name.Repository)) {
	t.Helper()
	r := mustRef(t, ref)
	desc, m := getManifest(t, ref)
	// the original bundle
	idx, err := remote.Referrers(r.Context().Digest(desc.Digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	sd, err := remote.Get(r.Context().Digest(im.Manifests[0].Digest.String()))
	if err != nil {
		t.Fatal(err)
	}
	var sig v1.Manifest
	json.Unmarshal(sd.Manifest, &sig)

	edit(&m, r.Context())
	raw, _ := json.Marshal(m)
	if err := remote.Put(r, rawManifest{raw, types.OCIManifestSchema1}); err != nil {
		t.Fatal(err)
	}
	d, n, _ := v1.SHA256(bytes.NewReader(raw))
	sig.Subject = &v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: d, Size: n}
	sraw, _ := json.Marshal(sig)
	sdig, _, _ := v1.SHA256(bytes.NewReader(sraw))
	if err := remote.Put(r.Context().Digest(sdig.String()), rawManifest{sraw, types.OCIManifestSchema1}); err != nil {
		t.Fatal(err)
	}
}

// uploadBlob puts b into the repository and returns its descriptor.
func uploadBlob(t *testing.T, repo name.Repository, b []byte, mt types.MediaType, title string) v1.Descriptor {
	t.Helper()
	l := static.NewLayer(b, mt)
	if err := remote.WriteLayer(repo, l); err != nil {
		t.Fatal(err)
	}
	d, err := descriptor(l, map[string]string{annotationTitle: title})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func fetchBlob(t *testing.T, repo name.Repository, d v1.Descriptor) []byte {
	t.Helper()
	b, err := fetchSmall(repo, d, 1<<30, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func layerIndex(m *v1.Manifest, title string) int {
	for i, l := range m.Layers {
		if l.Annotations[annotationTitle] == title {
			return i
		}
	}
	return -1
}

// TestPullTampered: an image changed anywhere on its way fails
// verification, with a line naming what failed, and writes nothing.
func TestPullTampered(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, "", "")
	registrytest.DockerConfig(t, reg.Addr, "", "")
	other := imagetest.OtherKeys(t)
	tests := []struct {
		name   string
		setup  func(t *testing.T, im *imagetest.Image, ref string)
		detail string
	}{
		{"uki blob corrupted in storage", func(t *testing.T, im *imagetest.Image, ref string) {
			_, m := getManifest(t, ref)
			p := reg.BlobPath(m.Layers[layerIndex(&m, "uki.efi")].Digest.String())
			b, _ := os.ReadFile(p)
			b[5000] ^= 1
			os.WriteFile(p, b, 0o644)
		}, "uki.efi"},
		{"uki swapped, bundle reattached", func(t *testing.T, im *imagetest.Image, ref string) {
			republish(t, ref, func(m *v1.Manifest, repo name.Repository) {
				i := layerIndex(m, "uki.efi")
				b := fetchBlob(t, repo, m.Layers[i])
				b[5000] ^= 1
				m.Layers[i] = uploadBlob(t, repo, b, MediaTypeUKI, "uki.efi")
			})
		}, "uki.efi: image does not verify: sha256"},
		{"disk swapped, bundle reattached", func(t *testing.T, im *imagetest.Image, ref string) {
			republish(t, ref, func(m *v1.Manifest, repo name.Repository) {
				i := layerIndex(m, "OVMF_VARS.fd")
				vars := fetchBlob(t, repo, m.Layers[i])
				vars[0] ^= 1
				m.Layers[i] = uploadBlob(t, repo, vars, MediaTypeVars, "OVMF_VARS.fd")
			})
		}, "OVMF_VARS.fd: image does not verify"},
		{"manifest.json changed, bundle reattached", func(t *testing.T, im *imagetest.Image, ref string) {
			republish(t, ref, func(m *v1.Manifest, repo name.Repository) {
				b := fetchBlob(t, repo, m.Layers[0])
				b = bytes.Replace(b, []byte("hardenvm.test=1"), []byte("hardenvm.test=0"), 1)
				m.Layers[0] = uploadBlob(t, repo, b, MediaTypeManifest, imagedir.Manifest)
			})
		}, "the manifest is not the one that was signed"},
		{"extra layer", func(t *testing.T, im *imagetest.Image, ref string) {
			republish(t, ref, func(m *v1.Manifest, repo name.Repository) {
				m.Layers = append(m.Layers, uploadBlob(t, repo, []byte("#!/bin/sh\n"), MediaTypeArtifact, "evil.sh"))
			})
		}, `layer "evil.sh" is not an artifact the signed manifest lists`},
		{"layer title outside", func(t *testing.T, im *imagetest.Image, ref string) {
			republish(t, ref, func(m *v1.Manifest, repo name.Repository) {
				m.Layers[1].Annotations[annotationTitle] = "../OVMF_VARS.fd"
			})
		}, "not a plain file name"},
		{"signed by another key", func(t *testing.T, im *imagetest.Image, ref string) {
			// a repository where the right key never signed it
			if err := imagedir.Sign(im.Dir, other.Get(keys.Signing).Signer); err != nil {
				t.Fatal(err)
			}
			if _, err := push(ctx, im.Dir, ref, options(im)); err != nil {
				t.Fatal(err)
			}
		}, "signed by another key"},
		{"signature removed", func(t *testing.T, im *imagetest.Image, ref string) {
			r := mustRef(t, ref)
			desc, _ := remote.Get(r)
			fb, err := remote.Get(r.Context().Tag(strings.Replace(desc.Digest.String(), ":", "-", 1)))
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Delete(r.Context().Digest(fb.Digest.String())); err != nil {
				t.Fatal(err)
			}
		}, "the image is not signed"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			im := imagetest.New(t, imagetest.Options{Seed: uint64(i)})
			repo := reg.Addr + "/hardenvm/tamper" + string(rune('a'+i))
			if _, err := Push(ctx, im.Dir, repo+":v1", options(im)); err != nil {
				t.Fatal(err)
			}
			ref := repo + ":v1"
			if tt.name == "signed by another key" {
				ref = repo + "-other:v1"
			}
			start := time.Now()
			tt.setup(t, im, ref)
			t.Logf("setup %v", time.Since(start))
			start = time.Now()
			defer func() { t.Logf("pull %v", time.Since(start)) }()
			parent := t.TempDir()
			_, _, err := Pull(ctx, ref, filepath.Join(parent, "img"), options(im))
			if err == nil {
				t.Fatal("Pull succeeded")
			}
			if !strings.Contains(err.Error(), tt.detail) {
				t.Errorf("Pull = %v, want it to mention %q", err, tt.detail)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Pull error is several lines: %q", err)
			}
			assertNothingWritten(t, parent)
		})
	}
}

func TestRegistryErrors(t *testing.T) {
	ctx := context.Background()
	im := imagetest.New(t, imagetest.Options{})
	authReg := registrytest.Start(t, "ci", "s3cret")
	open := registrytest.Start(t, "", "")
	down := registrytest.Start(t, "", "")
	downAddr := down.Addr
	// a port where nothing listens any more
	p, _ := os.FindProcess(down.PID)
	p.Kill()
	time.Sleep(100 * time.Millisecond)

	t.Run("auth ok", func(t *testing.T) {
		registrytest.DockerConfig(t, authReg.Addr, "ci", "s3cret")
		if _, err := Push(ctx, im.Dir, authReg.Addr+"/hardenvm/test:v1", options(im)); err != nil {
			t.Fatalf("Push with the right password: %v", err)
		}
		if _, _, err := Pull(ctx, authReg.Addr+"/hardenvm/test:v1", filepath.Join(t.TempDir(), "x"), options(im)); err != nil {
			t.Fatalf("Pull with the right password: %v", err)
		}
	})
	tests := []struct {
		name     string
		user, pw string
		addr     string
		ref      string
		push     bool
		want     string
	}{
		{"push, wrong password", "ci", "wrong", authReg.Addr, authReg.Addr + "/hardenvm/test:v1", true, "refused our credentials"},
		{"pull, no credentials", "", "", authReg.Addr, authReg.Addr + "/hardenvm/test:v1", false, "refused our credentials"},
		{"pull, unknown tag", "", "", open.Addr, open.Addr + "/hardenvm/test:nope", false, "not found in the registry"},
		{"pull, unknown digest", "", "", open.Addr, open.Addr + "/hardenvm/test@sha256:" + strings.Repeat("0", 64), false, "not found in the registry"},
		{"push, server down", "", "", downAddr, downAddr + "/hardenvm/test:v1", true, "cannot reach the registry"},
		{"pull, server down", "", "", downAddr, downAddr + "/hardenvm/test:v1", false, "cannot reach the registry"},
		{"pull, bad reference", "", "", open.Addr, "Not A Ref!", false, "not an image reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			registrytest.DockerConfig(t, tt.addr, tt.user, tt.pw)
			parent := t.TempDir()
			start := time.Now()
			var err error
			if tt.push {
				_, err = Push(ctx, im.Dir, tt.ref, options(im))
			} else {
				_, _, err = Pull(ctx, tt.ref, filepath.Join(parent, "img"), options(im))
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %v, want one line with %q", err, tt.want)
			}
			if errors.Is(err, ErrNotVerified) {
				t.Errorf("a registry error is reported as a verification failure: %v", err)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %v to fail", d)
			}
			assertNothingWritten(t, parent)
			t.Logf("%v", err)
		})
	}
}

// getManifest is ref's manifest as a registry client sees it.
func getManifest(t *testing.T, ref string) (*remote.Descriptor, v1.Manifest) {
	t.Helper()
	desc, err := remote.Get(mustRef(t, ref))
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	return desc, m
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestReferrersAPI: against a registry that implements the OCI 1.1
// referrers API (go-containerregistry's in-process registry), the bundle is
// found through the API instead of the fallback tag.
func TestReferrersAPI(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	registrytest.DockerConfig(t, "", "", "")
	host := strings.TrimPrefix(srv.URL, "http://")
	im := imagetest.New(t, imagetest.Options{})
	ref := host + "/hardenvm/api:v1"
	res, err := Push(ctx, im.Dir, ref, options(im))
	if err != nil {
		t.Fatal(err)
	}
	// No fallback tag: the registry answered the referrers API.
	r := mustRef(t, ref)
	if _, err := remote.Get(r.Context().Tag(strings.Replace(res.Digest, ":", "-", 1))); err == nil {
		t.Error("the fallback tag exists on a registry with the referrers API")
	}
	dst := filepath.Join(t.TempDir(), "img")
	if _, _, err := Pull(ctx, ref, dst, options(im)); err != nil {
		t.Fatal(err)
	}
	assertSame(t, im.Dir, dst)
}

// TestPushPullDiskFormats: an image with its disk also as qcow2 and VHDX
// travels whole, each disk file a zstd layer of its own media type.
func TestPushPullDiskFormats(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, "", "")
	registrytest.DockerConfig(t, reg.Addr, "", "")
	im := imagetest.New(t, imagetest.Options{Formats: []string{imagedir.FormatQCOW2, imagedir.FormatVHDX}})
	ref := reg.Addr + "/hardenvm/formats:v1"
	if _, err := Push(ctx, im.Dir, ref, options(im)); err != nil {
		t.Fatal(err)
	}
	_, m := getManifest(t, ref)
	types := map[string]string{}
	for _, l := range m.Layers {
		types[l.Annotations[annotationTitle]] = string(l.MediaType)
	}
	for name, want := range map[string]string{imagedir.Disk: MediaTypeDisk, imagedir.DiskQCOW2: MediaTypeQCOW2, imagedir.DiskVHDX: MediaTypeVHDX} {
		if types[name] != want {
			t.Errorf("layer %s has media type %q, want %q", name, types[name], want)
		}
	}
	dst := filepath.Join(t.TempDir(), "pulled")
	if _, rep, err := Pull(ctx, ref, dst, options(im)); err != nil || !rep.OK {
		t.Fatalf("Pull = %v (report ok %v)", err, rep != nil && rep.OK)
	}
	assertSame(t, im.Dir, dst)
}
