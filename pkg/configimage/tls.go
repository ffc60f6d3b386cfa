package configimage

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
)

// Files of a TLS directory (host side). ca.pem, cert.pem and key.pem are
// what the docker CLI reads with DOCKER_CERT_PATH=DIR DOCKER_TLS_VERIFY=1.
const (
	TLSCA         = "ca.pem"
	TLSCAKey      = "ca-key.pem"
	TLSServerCert = "server-cert.pem"
	TLSServerKey  = "server-key.pem"
	TLSClientCert = "cert.pem"
	TLSClientKey  = "key.pem"
)

// TLS is the engine's server material that goes into the config
// partition (PEM). The CA key and the client key stay in the host's TLS
// directory.
type TLS struct {
	CA, ServerCert, ServerKey []byte
}

// serverNames are the names the engine's certificate is valid for: the
// host reaches the engine through a forward on the loopback address.
var (
	serverIPs   = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	serverNames = []string{"localhost", "hardenvm"}
)

// LoadTLS reads the server material from a TLS directory and checks that
// the server certificate is issued by the CA and matches its key.
func LoadTLS(dir string) (*TLS, error) {
	t := &TLS{}
	for _, f := range []struct {
		name string
		dst  *[]byte
	}{{TLSCA, &t.CA}, {TLSServerCert, &t.ServerCert}, {TLSServerKey, &t.ServerKey}} {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil {
			return nil, fmt.Errorf("config: engine TLS: %w", err)
		}
		*f.dst = b
	}
	pair, err := tls.X509KeyPair(t.ServerCert, t.ServerKey)
	if err != nil {
		return nil, fmt.Errorf("config: engine TLS in %s: server certificate and key: %w", dir, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(t.CA) {
		return nil, fmt.Errorf("config: engine TLS: %s has no PEM certificate", filepath.Join(dir, TLSCA))
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, err
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return nil, fmt.Errorf("config: engine TLS in %s: the server certificate is not valid under %s: %w", dir, TLSCA, err)
	}
	return t, nil
}

// LoadOrCreateTLS loads the TLS directory, or creates it when it does not
// exist: a CA (ECDSA P-256, valid ten years from now), a server
// certificate for the engine (127.0.0.1, ::1, localhost) and a client
// certificate for the host's docker CLI, all signed by the CA.
func LoadOrCreateTLS(dir string, now time.Time) (*TLS, bool, error) {
	if _, err := os.Stat(filepath.Join(dir, TLSCA)); err == nil {
		t, err := LoadTLS(dir)
		return t, false, err
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, false, fmt.Errorf("config: engine TLS: %w", err)
	}
	if err := CreateTLS(dir, now); err != nil {
		return nil, false, err
	}
	t, err := LoadTLS(dir)
	return t, true, err
}

// CreateTLS writes a new CA, server and client certificate into dir
// (created with mode 0700; refuses to overwrite an existing CA).
func CreateTLS(dir string, now time.Time) error {
	if _, err := os.Stat(filepath.Join(dir, TLSCA)); err == nil {
		return fmt.Errorf("config: engine TLS: %s already exists", filepath.Join(dir, TLSCA))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("config: engine TLS: %w", err)
	}
	notAfter := now.AddDate(10, 0, 0)
	caKey, caDER, err := issue(&x509.Certificate{
		Subject:   pkix.Name{Organization: []string{"hardenvm"}, CommonName: "hardenvm engine CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}, nil, nil)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, srvDER, err := issue(&x509.Certificate{
		Subject:   pkix.Name{Organization: []string{"hardenvm"}, CommonName: "hardenvm engine"},
		NotBefore: now.Add(-time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: serverIPs, DNSNames: serverNames,
	}, ca, caKey)
	if err != nil {
		return err
	}
	cliKey, cliDER, err := issue(&x509.Certificate{
		Subject:   pkix.Name{Organization: []string{"hardenvm"}, CommonName: "hardenvm engine client"},
		NotBefore: now.Add(-time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, caKey)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		typ  string
		der  []byte
		perm os.FileMode
	}{
		{TLSCAKey, "PRIVATE KEY", caKey.der, 0o600},
		{TLSServerKey, "PRIVATE KEY", srvKey.der, 0o600},
		{TLSClientKey, "PRIVATE KEY", cliKey.der, 0o600},
		{TLSServerCert, "CERTIFICATE", srvDER, 0o644},
		{TLSClientCert, "CERTIFICATE", cliDER, 0o644},
		{TLSCA, "CERTIFICATE", caDER, 0o644}, // last: its presence marks a complete directory
	} {
		b := pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der})
		if err := atomicfile.WriteFile(filepath.Join(dir, f.name), b, f.perm); err != nil {
			return fmt.Errorf("config: engine TLS: %w", err)
		}
	}
	return nil
}

type privKey struct {
	*ecdsa.PrivateKey
	der []byte
}

// issue makes a key and a certificate from tmpl, signed by parent (self
// when nil).
func issue(tmpl, parent *x509.Certificate, parentKey *privKey) (*privKey, []byte, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	key := &privKey{k, der}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, parentKey.PrivateKey)
	if err != nil {
		return nil, nil, fmt.Errorf("config: engine TLS: certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	return key, cert, nil
}
