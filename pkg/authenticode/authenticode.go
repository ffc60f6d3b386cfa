// Package authenticode signs and checks PE images (the UKI) the way UEFI
// Secure Boot verifies them: a PKCS#7 SignedData over the image's
// Authenticode SHA-256 digest, in the PE certificate table.
//
// Digest computation and the table layout come from
// github.com/foxboron/go-uefi. The PKCS#7 envelope is built here, because
// go-uefi stamps a signing time from the clock: this package adds no
// signing time (UEFI ignores it), so that signing the same image with the
// same key gives the same bytes. Only RSA signers are supported: they are
// what firmware db entries hold.
package authenticode

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"

	uefiac "github.com/foxboron/go-uefi/authenticode"
	"github.com/foxboron/go-uefi/pkcs7"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Digest is the Authenticode SHA-256 digest of img: what the signature
// covers and what the firmware measures into PCR 4.
func Digest(img []byte) ([]byte, error) {
	p, err := uefiac.Parse(bytes.NewReader(img))
	if err != nil {
		return nil, fmt.Errorf("authenticode: %w", err)
	}
	return p.Hash(crypto.SHA256), nil
}

// Sign returns img with a signature by key (whose certificate is cert)
// appended to its certificate table.
func Sign(img []byte, key crypto.Signer, cert *x509.Certificate) ([]byte, error) {
	if _, ok := key.Public().(*rsa.PublicKey); !ok {
		return nil, errors.New("authenticode: only RSA keys can sign for UEFI")
	}
	p, err := uefiac.Parse(bytes.NewReader(img))
	if err != nil {
		return nil, fmt.Errorf("authenticode: %w", err)
	}
	digest := p.Hash(crypto.SHA256)
	content, err := uefiac.CreateSpcIndirectDataContent(digest, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("authenticode: %w", err)
	}
	sig, err := signedData(key, cert, content)
	if err != nil {
		return nil, err
	}
	if err := p.AppendSignature(sig); err != nil {
		return nil, fmt.Errorf("authenticode: %w", err)
	}
	return p.Bytes(), nil
}

// signedData builds the PKCS#7 ContentInfo of an Authenticode signature:
// SpcIndirectDataContent as the signed content, authenticated attributes
// (content type and message digest), one signer.
func signedData(key crypto.Signer, cert *x509.Certificate, content []byte) ([]byte, error) {
	md := sha256.Sum256(content)
	attrs := (&pkcs7.Attributes{ContentType: uefiac.OIDSpcIndirectDataContent, MessageDigest: md[:]}).Marshal()
	ah := sha256.Sum256(attrs)
	sig, err := key.Sign(rand.Reader, ah[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("authenticode: signing: %w", err)
	}
	sha256Alg := func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(pkcs7.OIDDigestAlgorithmSHA256)
			b.AddASN1NULL()
		})
	}
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // ContentInfo
		b.AddASN1ObjectIdentifier(pkcs7.OIDSignedData)
		b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // SignedData
				b.AddASN1Int64(1)
				b.AddASN1(asn1.SET, sha256Alg)
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { // contentInfo
					b.AddASN1ObjectIdentifier(uefiac.OIDSpcIndirectDataContent)
					b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
						b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddBytes(content) })
					})
				})
				b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
					b.AddBytes(cert.Raw)
				})
				b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) { // signerInfos
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1Int64(1)
						b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddBytes(cert.RawIssuer)
							b.AddASN1BigInt(cert.SerialNumber)
						})
						sha256Alg(b)
						b.AddASN1(asn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
							in := cryptobyte.String(attrs)
							var set cryptobyte.String
							in.ReadASN1(&set, asn1.SET)
							b.AddBytes(set)
						})
						b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1ObjectIdentifier(pkcs7.OIDEncryptionAlgorithmRSA)
							b.AddASN1NULL()
						})
						b.AddASN1OctetString(sig)
					})
				})
			})
		})
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("authenticode: encoding signature: %w", err)
	}
	return out, nil
}

// ErrNotSigned is returned by Verify for an image without signatures.
var ErrNotSigned = errors.New("image is not signed")

// Verify checks that img carries a valid signature by cert's key over its
// current contents.
func Verify(img []byte, cert *x509.Certificate) error {
	p, err := uefiac.Parse(bytes.NewReader(img))
	if err != nil {
		return fmt.Errorf("authenticode: %w", err)
	}
	ok, err := p.Verify(cert)
	switch {
	case errors.Is(err, uefiac.ErrNoSignatures):
		return ErrNotSigned
	case errors.Is(err, uefiac.ErrNoValidSignatures) || (err == nil && !ok):
		return fmt.Errorf("authenticode: no valid signature by %s", cert.Subject)
	case err != nil:
		return fmt.Errorf("authenticode: %w", err)
	}
	return nil
}

// Signers returns the certificates embedded in img's signatures.
func Signers(img []byte) ([]*x509.Certificate, error) {
	p, err := uefiac.Parse(bytes.NewReader(img))
	if err != nil {
		return nil, fmt.Errorf("authenticode: %w", err)
	}
	sigs, err := p.Signatures()
	if err != nil {
		return nil, fmt.Errorf("authenticode: %w", err)
	}
	var certs []*x509.Certificate
	for _, s := range sigs {
		pk, err := pkcs7.ParsePKCS7(s.Certificate)
		if err != nil {
			return nil, fmt.Errorf("authenticode: %w", err)
		}
		certs = append(certs, pk.Certs...)
	}
	return certs, nil
}
