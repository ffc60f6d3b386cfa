// Package keys creates, stores and loads the key set hardenvm signs with:
//
//   - pk, kek, db: the UEFI Secure Boot hierarchy. RSA-2048 with self-signed
//     X.509 certificates, because that is what every UEFI implementation
//     accepts in its signature databases. db signs the UKI.
//   - admin: signs the config partition (ECDSA P-256 with a certificate, so
//     the guest init and PKCS#7 tooling can both use it).
//   - signing: signs artifact manifests as sigstore bundles (ECDSA P-256;
//     a public key, no certificate).
//
// On disk every role is <role>.key (PKCS#8 PEM, mode 0600) and, where the
// role has one, <role>.crt (PEM) or <role>.pub (PKIX PEM), in a 0700
// directory. owner.guid holds the EFI signature owner GUID used when the
// certificates are enrolled.
package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/hardenvm/hardenvm/pkg/gpt"
	"io"
	"math/big"
	"time"
)

// Role names one key of the set.
type Role string

const (
	PK      Role = "pk"
	KEK     Role = "kek"
	DB      Role = "db"
	Admin   Role = "admin"
	Signing Role = "signing"
)

// Roles lists every role in the order they are created and shown.
var Roles = []Role{PK, KEK, DB, Admin, Signing}

type roleInfo struct {
	purpose string
	rsa     bool // RSA-2048, else ECDSA P-256
	cert    bool // has an X.509 certificate (else a bare public key)
	usage   x509.KeyUsage
	ext     []x509.ExtKeyUsage
}

var info = map[Role]roleInfo{
	PK:      {"Secure Boot platform key", true, true, x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, nil},
	KEK:     {"Secure Boot key exchange key", true, true, x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, nil},
	DB:      {"Secure Boot signature database key (signs the UKI)", true, true, x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}},
	Admin:   {"config partition admin key", false, true, x509.KeyUsageDigitalSignature, nil},
	Signing: {"artifact-signing key (sigstore bundles)", false, false, 0, nil},
}

// Purpose says what the role's key is for.
func (r Role) Purpose() string { return info[r].purpose }

// Key is one role's key pair.
type Key struct {
	Role   Role
	Signer crypto.Signer
	Cert   *x509.Certificate // nil for roles without a certificate
}

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return k.Signer.Public() }

// Algorithm names the key type, e.g. "RSA-2048" or "ECDSA-P256".
func (k *Key) Algorithm() string { return algorithm(k.Public()) }

// Fingerprint is the SHA-256 of the certificate (DER) when the role has one,
// else of the public key (PKIX DER): the value `openssl x509 -fingerprint
// -sha256` and sigstore tooling show.
func (k *Key) Fingerprint() string {
	if k.Cert != nil {
		s := sha256.Sum256(k.Cert.Raw)
		return hex.EncodeToString(s[:])
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		return ""
	}
	s := sha256.Sum256(der)
	return hex.EncodeToString(s[:])
}

func algorithm(pub crypto.PublicKey) string {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", p.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA-" + p.Curve.Params().Name
	default:
		return fmt.Sprintf("%T", pub)
	}
}

// Set is the whole key set.
type Set struct {
	Keys  map[Role]*Key
	Owner gpt.GUID // EFI signature owner GUID
}

// Get returns the key for role.
func (s *Set) Get(r Role) *Key { return s.Keys[r] }

// Options control Generate.
type Options struct {
	Organization string    // goes into every certificate subject
	Now          time.Time // start of validity
	Rand         io.Reader // entropy; crypto/rand when nil
}

// Generate creates a fresh key set.
func Generate(o Options) (*Set, error) {
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Organization == "" {
		o.Organization = "hardenvm"
	}
	if o.Now.IsZero() {
		return nil, errors.New("keys: Options.Now must be set")
	}
	s := &Set{Keys: map[Role]*Key{}}
	var owner [16]byte // read in EFI_GUID order, as key sets always were
	if _, err := io.ReadFull(o.Rand, owner[:]); err != nil {
		return nil, fmt.Errorf("keys: owner GUID: %w", err)
	}
	owner[7] = owner[7]&0x0f | 0x40 // version 4 (EFI_GUID stores Data3 little-endian)
	owner[8] = owner[8]&0x3f | 0x80 // RFC 4122 variant
	s.Owner = gpt.DecodeGUID(owner[:])
	for _, r := range Roles {
		k, err := generate(r, o)
		if err != nil {
			return nil, fmt.Errorf("keys: generating %s key: %w", r, err)
		}
		s.Keys[r] = k
	}
	return s, nil
}

func generate(r Role, o Options) (*Key, error) {
	ri := info[r]
	var signer crypto.Signer
	var err error
	if ri.rsa {
		signer, err = rsa.GenerateKey(o.Rand, 2048)
	} else {
		signer, err = ecdsa.GenerateKey(elliptic.P256(), o.Rand)
	}
	if err != nil {
		return nil, err
	}
	k := &Key{Role: r, Signer: signer}
	if !ri.cert {
		return k, nil
	}
	serial, err := rand.Int(o.Rand, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   fmt.Sprintf("%s %s", o.Organization, subjectRole(r)),
			Organization: []string{o.Organization},
		},
		NotBefore:             o.Now.Add(-time.Hour).UTC(),
		NotAfter:              o.Now.AddDate(30, 0, 0).UTC(),
		KeyUsage:              ri.usage,
		ExtKeyUsage:           ri.ext,
		BasicConstraintsValid: true,
		IsCA:                  r == PK || r == KEK,
	}
	der, err := x509.CreateCertificate(o.Rand, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		return nil, err
	}
	if k.Cert, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	return k, nil
}

func subjectRole(r Role) string {
	switch r {
	case PK:
		return "Secure Boot Platform Key (PK)"
	case KEK:
		return "Secure Boot Key Exchange Key (KEK)"
	case DB:
		return "Secure Boot Signature Database Key (db)"
	case Admin:
		return "Config Partition Admin"
	}
	return string(r)
}
