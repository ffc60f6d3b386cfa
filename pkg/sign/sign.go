// Package sign signs an image's manifest as a sigstore bundle and
// checks such bundles, offline. It works on bytes: pkg/imagedir reads and
// writes the files.
//
// The bundle (stored beside the manifest) is the
// protobuf-specs Bundle in its JSON form, media type
// application/vnd.dev.sigstore.bundle.v0.3+json, holding a
// messageSignature: the SHA-256 digest of the manifest and an ECDSA
// signature over it. Its verification material is a bare public key, named
// only by a hint (base64 of SHA-256 over the key's PKIX DER, the RFC 6962
// key ID), so the verifier must already hold the key: the trust anchor is
// the publisher's signing.pub, not a certificate authority. This is the
// shape `cosign verify-blob --key signing.pub --bundle BUNDLE
// --insecure-ignore-tlog MANIFEST` accepts.
//
// The same bundle shape carries a DSSE envelope instead for attestations
// (SignDSSE, VerifyDSSE: the build's SLSA provenance), signed over DSSE's
// pre-authentication encoding; `cosign verify-blob-attestation` accepts it.
//
// Subset: no transparency-log entries are written and any present are not
// checked (the key alone is trusted); certificate verification material is
// refused, and so is a DSSE envelope where a message signature is expected
// (manifests) and the other way round. Keys are what
// github.com/sigstore/sigstore's signature package loads: ECDSA (P-256 with
// SHA-256, as `hardenvm keys init` makes), RSA, Ed25519.
package sign

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"
)

// MediaType is the media type of the bundles Sign writes (sigstore bundle
// format v0.3).
const MediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// mediaTypes are the spellings of v0.3 that verifiers accept.
var mediaTypes = map[string]bool{
	MediaType: true,
	"application/vnd.dev.sigstore.bundle+json;version=0.3": true,
}

var (
	// ErrBadSignature means the bundle does not verify: the manifest or
	// the bundle was changed, or it was signed by another key.
	ErrBadSignature = errors.New("signature does not verify")
	// ErrManifestChanged (with ErrBadSignature) means the signed file
	// is not the one the bundle signed.
	ErrManifestChanged = errors.New("the manifest is not the one that was signed")
	// ErrMalformed means the bundle is not one this package understands.
	ErrMalformed = errors.New("malformed sigstore bundle")
)

// SignBytes returns the bundle JSON for payload signed by key.
func SignBytes(payload []byte, key crypto.Signer) ([]byte, error) {
	signer, err := signature.LoadSigner(key, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign: loading the signing key: %w", err)
	}
	sig, err := signer.SignMessage(bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	digest := sha256.Sum256(payload)
	return marshalBundle(key.Public(), &protobundle.Bundle_MessageSignature{
		MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{
				Algorithm: protocommon.HashAlgorithm_SHA2_256,
				Digest:    digest[:],
			},
			Signature: sig,
		},
	})
}

// marshalBundle wraps signed content in a v0.3 bundle whose verification
// material is pub's hint, as stable, indented JSON.
func marshalBundle(pub crypto.PublicKey, content any) ([]byte, error) {
	hint, err := KeyHint(pub)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	b := &protobundle.Bundle{
		MediaType: MediaType,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{
				PublicKey: &protocommon.PublicKeyIdentifier{Hint: hint},
			},
		},
	}
	switch c := content.(type) {
	case *protobundle.Bundle_MessageSignature:
		b.Content = c
	case *protobundle.Bundle_DsseEnvelope:
		b.Content = c
	default:
		return nil, fmt.Errorf("sign: BUG: bundle content %T", content)
	}
	// protojson varies its whitespace on purpose; re-indent so the file
	// is stable and readable.
	raw, err := protojson.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("sign: BUG: encoding the bundle: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return nil, fmt.Errorf("sign: BUG: indenting the bundle: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// KeyHint is the public-key hint bundles carry: base64 of SHA-256 over the
// PKIX DER of pub.
func KeyHint(pub crypto.PublicKey) (string, error) {
	der, err := cryptoutils.MarshalPublicKeyToDER(pub)
	if err != nil {
		return "", err
	}
	s := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(s[:]), nil
}

// Fingerprint is the hex SHA-256 of pub's PKIX DER, as `hardenvm keys`
// shows it.
func Fingerprint(pub crypto.PublicKey) string {
	der, err := cryptoutils.MarshalPublicKeyToDER(pub)
	if err != nil {
		return ""
	}
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}

// VerifyBytes checks that bundle is a valid signature by pub over payload.
func VerifyBytes(payload, bundle []byte, pub crypto.PublicKey) error {
	var b protobundle.Bundle
	if err := protojson.Unmarshal(bundle, &b); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := checkEnvelope(&b, pub); err != nil {
		return err
	}
	ms := b.GetMessageSignature()
	if ms == nil {
		return fmt.Errorf("%w: no messageSignature (DSSE envelopes are not used for manifests)", ErrMalformed)
	}
	md := ms.GetMessageDigest()
	if md == nil || md.GetAlgorithm() != protocommon.HashAlgorithm_SHA2_256 {
		return fmt.Errorf("%w: message digest is not SHA2_256", ErrMalformed)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return fmt.Errorf("sign: loading the public key: %w", err)
	}
	// Which file was changed: a signature that fails over a payload whose
	// digest the bundle does not record means the payload changed; one
	// that fails although the digests agree means the bundle's signature
	// (or the key) is wrong.
	digest := sha256.Sum256(payload)
	digestOK := subtle.ConstantTimeCompare(md.GetDigest(), digest[:]) == 1
	if err := v.VerifySignature(bytes.NewReader(ms.GetSignature()), bytes.NewReader(payload)); err != nil {
		if !digestOK {
			return fmt.Errorf("%w: %w: its SHA-256 is %x, the bundle signed %x", ErrBadSignature, ErrManifestChanged, digest, md.GetDigest())
		}
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if !digestOK {
		return fmt.Errorf("%w: the bundle's message digest %x is not the signed manifest's %x", ErrBadSignature, md.GetDigest(), digest)
	}
	return nil
}

// checkEnvelope checks what every bundle of ours has: the v0.3 media type
// and, as verification material, pub's hint (or none).
func checkEnvelope(b *protobundle.Bundle, pub crypto.PublicKey) error {
	if !mediaTypes[b.GetMediaType()] {
		return fmt.Errorf("%w: media type %q, want %s", ErrMalformed, b.GetMediaType(), MediaType)
	}
	vm := b.GetVerificationMaterial()
	if vm == nil || vm.GetPublicKey() == nil {
		return fmt.Errorf("%w: %w", ErrMalformed, errNotPublicKey)
	}
	want, err := KeyHint(pub)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	if h := vm.GetPublicKey().GetHint(); h != "" && h != want {
		return fmt.Errorf("%w: signed by another key (bundle key hint %s, this key's %s)", ErrBadSignature, h, want)
	}
	return nil
}

// LoadPublicKey reads a PEM public key (signing.pub). A file that holds
// something else (a certificate, a private key, no PEM) is refused with a
// *NotPublicKeyError saying what it holds.
func LoadPublicKey(path string) (crypto.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sign: public key: %w", err)
	}
	blk, _ := pem.Decode(b)
	switch {
	case blk == nil:
		return nil, &NotPublicKeyError{Path: path, What: "not PEM"}
	case blk.Type == "CERTIFICATE":
		e := &NotPublicKeyError{Path: path, What: "a certificate"}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
			e.Cert = c
		}
		return nil, e
	case strings.HasSuffix(blk.Type, "PRIVATE KEY"):
		return nil, &NotPublicKeyError{Path: path, What: "a private key"}
	case blk.Type != "PUBLIC KEY" && blk.Type != "RSA PUBLIC KEY":
		return nil, &NotPublicKeyError{Path: path, What: fmt.Sprintf("a PEM %q block", blk.Type)}
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("sign: %s: not a PEM public key: %w", path, err)
	}
	return pub, nil
}

// NotPublicKeyError is LoadPublicKey's refusal of a file that holds
// something other than a public key.
type NotPublicKeyError struct {
	Path string
	What string            // "a certificate", "a private key", "not PEM", ...
	Cert *x509.Certificate // the certificate, when What is one that parses
}

func (e *NotPublicKeyError) Error() string {
	what := e.What
	if e.Cert != nil {
		what = fmt.Sprintf("a certificate (subject %q)", e.Cert.Subject.CommonName)
	}
	return fmt.Sprintf("%s is %s, not a public key: the artifact-signing public key is a PEM \"PUBLIC KEY\" (signing.pub)", e.Path, what)
}
