package imagedir

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/sign"
)

// TrustFiles name the trust anchors of verify, run, push and pull, as
// their flags do: the artifact-signing public key (Key, --key) or a key set
// directory (Keys, --keys) whose signing.pub and db.crt are used, and the
// db certificate the UKI must be signed by (DBCert, --db-cert).
type TrustFiles struct {
	Key, Keys, DBCert string
}

// DefaultKeys is where 'hardenvm keys init' and 'hardenvm build' keep the
// key set by default: LoadTrust uses it when neither Key nor Keys is given
// and it holds a signing.pub.
const DefaultKeys = "keys"

// ErrNoTrustAnchor is LoadTrust's refusal when nothing names the
// artifact-signing key.
var ErrNoTrustAnchor = errors.New("no artifact-signing public key to verify with: pass --key PUB (the publisher's signing.pub) or --keys DIR")

// LoadTrust loads the trust anchors t names.
func LoadTrust(t TrustFiles) (Trust, error) {
	var o Trust
	dir := t.Keys
	if dir == "" && t.Key == "" {
		if _, err := os.Stat(keys.PubPath(DefaultKeys, keys.Signing)); err == nil {
			dir = DefaultKeys
		}
	}
	keyPath := t.Key
	if keyPath == "" {
		if dir == "" {
			return o, ErrNoTrustAnchor
		}
		keyPath = keys.PubPath(dir, keys.Signing)
	}
	pub, err := sign.LoadPublicKey(keyPath)
	if err != nil {
		if t.Key == "" {
			return o, err
		}
		return o, keyFlagError(t.Key, err)
	}
	o.PublicKey = pub
	certPath := t.DBCert
	if certPath == "" && dir != "" {
		p := keys.PubPath(dir, keys.DB)
		if _, err := os.Stat(p); err == nil {
			certPath = p
		}
	}
	if certPath != "" {
		if o.DBCert, err = loadDBCert(certPath); err != nil {
			return o, err
		}
	}
	return o, nil
}

func loadDBCert(path string) (*x509.Certificate, error) {
	c, err := keys.LoadCert(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("db certificate %s does not exist", path)
	case errors.Is(err, keys.ErrPublicKey):
		return nil, fmt.Errorf("--db-cert %s is a public key, not a certificate: it belongs to --key; --db-cert takes the Secure Boot db certificate (db.crt)", path)
	}
	return c, err
}

// keyFlagError says, for a file given as the key (--key) that is not a
// public key, what it is and which flag it belongs to.
func keyFlagError(path string, err error) error {
	var ne *sign.NotPublicKeyError
	if !errors.As(err, &ne) {
		return err
	}
	hint := "--key takes the artifact-signing public key (signing.pub)"
	switch role, _ := certRole(ne.Cert); {
	case role == keys.DB:
		hint = "it belongs to --db-cert; " + hint
	case role == keys.Admin:
		hint = "it belongs to 'hardenvm config verify --cert'; " + hint
	case role != "":
		hint = "verify does not take it (it is enrolled in " + Vars + "); " + hint
	case ne.Cert != nil || ne.What == "a certificate":
		hint = "a Secure Boot db certificate belongs to --db-cert; " + hint
	case ne.What == "a private key":
		hint = "give its public half, never the private key: " + hint
	}
	what := ne.What
	if ne.Cert != nil {
		if role, ok := certRole(ne.Cert); ok {
			what = fmt.Sprintf("the %s certificate (subject %q)", roleName(role), ne.Cert.Subject.CommonName)
		} else {
			what = fmt.Sprintf("a certificate (subject %q)", ne.Cert.Subject.CommonName)
		}
	}
	return fmt.Errorf("--key %s is %s, not a public key: %s", path, what, hint)
}

func certRole(c *x509.Certificate) (keys.Role, bool) {
	if c == nil {
		return "", false
	}
	return keys.CertRole(c)
}

func roleName(r keys.Role) string {
	switch r {
	case keys.PK, keys.KEK:
		return "Secure Boot " + strings.ToUpper(string(r))
	case keys.DB:
		return "Secure Boot db"
	case keys.Admin:
		return "config partition's admin"
	}
	return string(r)
}
