package attest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"

	"github.com/google/go-tpm/tpm2"
)

// Challenge makes a credential (TPM2_MakeCredential, done in software)
// that only the TPM holding the EK can activate, and only for the key
// named akName: getting secret back proves the AK lives in that TPM.
func Challenge(ekPublic, akName []byte) (blob, encSecret, secret []byte, err error) {
	ek, err := unmarshalStrict[tpm2.TPMTPublic](ekPublic)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("attest: EK public: %w", err)
	}
	if !ek.ObjectAttributes.Restricted || !ek.ObjectAttributes.Decrypt || !ek.ObjectAttributes.FixedTPM {
		return nil, nil, nil, fmt.Errorf("attest: the EK is not a restricted decryption key fixed to its TPM")
	}
	key, err := tpm2.ImportEncapsulationKey(ek)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("attest: EK: %w", err)
	}
	secret = make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, nil, nil, err
	}
	blob, encSecret, err = tpm2.CreateCredential(rand.Reader, key, akName, secret)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("attest: making the credential: %w", err)
	}
	return blob, encSecret, secret, nil
}

// CheckEKCert parses the EK certificate and checks that it certifies the
// EK (same RSA key). Its issuer is reported, not checked: swtpm's local CA
// is per machine.
func CheckEKCert(ekPublic, der []byte) (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("attest: EK certificate: %w", err)
	}
	ek, err := unmarshalStrict[tpm2.TPMTPublic](ekPublic)
	if err != nil {
		return nil, fmt.Errorf("attest: EK public: %w", err)
	}
	pub, err := tpm2.Pub(*ek)
	if err != nil {
		return nil, fmt.Errorf("attest: EK public: %w", err)
	}
	cp, ok := c.PublicKey.(*rsa.PublicKey)
	ep, ok2 := pub.(*rsa.PublicKey)
	if !ok || !ok2 || !cp.Equal(ep) {
		return nil, fmt.Errorf("attest: the EK certificate (%s) certifies another key than the EK", c.Subject)
	}
	return c, nil
}
