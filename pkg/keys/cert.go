package keys

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

var (
	// ErrNotCert is ParseCert's refusal of bytes that are no PEM
	// certificate.
	ErrNotCert = errors.New("not a PEM certificate")
	// ErrPublicKey is ParseCert's refusal of a PEM public key, given
	// where a certificate belongs.
	ErrPublicKey = errors.New("a public key, not a certificate")
)

// ParseCert decodes a PEM certificate (pk.crt, db.crt, admin.crt).
func ParseCert(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	switch {
	case blk != nil && blk.Type == "PUBLIC KEY":
		return nil, ErrPublicKey
	case blk == nil || blk.Type != "CERTIFICATE":
		return nil, ErrNotCert
	}
	return x509.ParseCertificate(blk.Bytes)
}

// LoadCert reads a PEM certificate file. Its errors name path; a missing
// file is an fs.ErrNotExist.
func LoadCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := ParseCert(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
