package egress

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"time"
)

// RefusedName is the only name on the certificate a refused TLS client
// gets: a verifying client prints it ("certificate is valid for
// registry-refused-by-admin-policy.registryAllowList.hardenvm.invalid,
// not H"). .invalid is reserved (RFC 2606): it names nothing real.
const RefusedName = "registry-refused-by-admin-policy.registryAllowList.hardenvm.invalid"

// RefusalCert makes the certificate of TLS refusals: self-signed, for
// RefusedName, valid from now-1h for a year (the filter makes one at
// start; its key never leaves memory).
func RefusalCert(now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: RefusedName},
		DNSNames:     []string{RefusedName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("refusal certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// WriteRefusal writes the HTTP answer to a refused request: 403 with the
// refusal as the reason phrase (containerd and buildkit print the status
// line) and as a distribution-spec errors body with code DENIED (docker
// pull prints "denied: <message>").
func WriteRefusal(w io.Writer, why string) error {
	body, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"code": "DENIED", "message": why}}})
	reason := strings.NewReplacer("\r", " ", "\n", " ").Replace(why)
	_, err := fmt.Fprintf(w, "HTTP/1.1 403 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", reason, len(body), body)
	return err
}

// refuseTLS finishes the handshake with the refusal certificate (a
// verifying client gives up here, naming it) and answers a client that
// skipped verification with WriteRefusal inside TLS.
func refuseTLS(c net.Conn, cert tls.Certificate, why string, deadline time.Time) {
	c.SetDeadline(deadline)
	s := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	if err := s.Handshake(); err != nil {
		return
	}
	if _, err := http.ReadRequest(bufio.NewReader(s)); err == nil {
		WriteRefusal(s, why)
	}
	s.Close()
}
