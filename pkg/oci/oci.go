// Package oci moves signed image directories through OCI registries.
//
// An image is pushed as one OCI image manifest (schema 2, media type
// application/vnd.oci.image.manifest.v1+json) with
//
//	artifactType  application/vnd.hardenvm.image.v1
//	config        the empty descriptor (application/vnd.oci.empty.v1+json, "{}")
//	layers        the manifest first, then every artifact the manifest
//	              lists, in name order; each layer's
//	              org.opencontainers.image.title annotation is its file name
//	              in the image directory (pkg/imagedir)
//
// with these layer media types:
//
//	the manifest       application/vnd.hardenvm.manifest.v1+json
//	the disk           application/vnd.hardenvm.disk.v1.raw+zstd  (zstd-compressed; the
//	                   manifest's digest is of the uncompressed disk)
//	the disk as qcow2  application/vnd.hardenvm.disk.v1.qcow2+zstd (the same)
//	the disk as VHDX   application/vnd.hardenvm.disk.v1.vhdx+zstd  (the same)
//	the UKI            application/vnd.hardenvm.uki.v1.efi
//	the variable store application/vnd.hardenvm.ovmf-vars.v1.fd
//	anything else      application/vnd.hardenvm.artifact.v1
//
// The manifest's sigstore bundle is attached as an OCI
// referrer: a second manifest whose subject is the image manifest, whose
// artifactType and only layer are application/vnd.dev.sigstore.bundle.v0.3+json
// (the convention cosign v3 uses for bundles). On registries without the
// referrers API, go-containerregistry keeps the referrers list in the
// fallback tag sha256-<digest of the image manifest>.
//
// Push refuses an image directory that does not verify; Pull verifies the
// bundle before it downloads anything else, checks every artifact against
// the signed manifest while it downloads, runs the full verification on the
// result, and only then moves the directory into place: a failed pull
// writes nothing. Credentials come from the docker config.json and its
// credential helpers (authn.DefaultKeychain).
package oci

import (
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/sign"
)

// Media types of the image artifact.
const (
	ArtifactType      = "application/vnd.hardenvm.image.v1"
	MediaTypeManifest = "application/vnd.hardenvm.manifest.v1+json"
	MediaTypeDisk     = "application/vnd.hardenvm.disk.v1.raw+zstd"
	MediaTypeQCOW2    = "application/vnd.hardenvm.disk.v1.qcow2+zstd"
	MediaTypeVHDX     = "application/vnd.hardenvm.disk.v1.vhdx+zstd"
	MediaTypeUKI      = "application/vnd.hardenvm.uki.v1.efi"
	MediaTypeVars     = "application/vnd.hardenvm.ovmf-vars.v1.fd"
	MediaTypeArtifact = "application/vnd.hardenvm.artifact.v1"
	// MediaTypeBundle is both the referrer's artifactType and its layer's
	// media type.
	MediaTypeBundle = sign.MediaType

	mediaTypeEmpty  = "application/vnd.oci.empty.v1+json"
	annotationTitle = "org.opencontainers.image.title"
)

// layerMediaType is the media type of the named file's layer.
func layerMediaType(name string) string {
	switch name {
	case imagedir.Manifest:
		return MediaTypeManifest
	case imagedir.Disk:
		return MediaTypeDisk
	case imagedir.DiskQCOW2:
		return MediaTypeQCOW2
	case imagedir.DiskVHDX:
		return MediaTypeVHDX
	case imagedir.UKI:
		return MediaTypeUKI
	case imagedir.Vars:
		return MediaTypeVars
	}
	return MediaTypeArtifact
}

// compressed reports whether a layer media type is zstd-compressed.
func compressed(mt string) bool {
	return mt == MediaTypeDisk || mt == MediaTypeQCOW2 || mt == MediaTypeVHDX
}

// Limits on what a pull reads into memory.
const (
	maxManifestJSON = 16 << 20
	maxBundle       = 1 << 20
	// maxReferrers bounds the signature candidates a pull fetches.
	maxReferrers = 32
)
