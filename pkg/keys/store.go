package keys

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/pkg/gpt"
)

// ErrExist is returned by Write when keys already exist and force is off.
var ErrExist = errors.New("key set already exists")

// Files returns the file names a role is stored in: the private key and the
// certificate or public key.
func Files(r Role) (key, pub string) {
	if info[r].cert {
		return string(r) + ".key", string(r) + ".crt"
	}
	return string(r) + ".key", string(r) + ".pub"
}

const ownerFile = "owner.guid"

// Write stores the set in dir. Without force it refuses to touch a
// directory that already holds any key file, so keys are never replaced by
// accident. Every file is written atomically; private keys are 0600 and the
// directory 0700.
func Write(dir string, s *Set, force bool) error {
	if !force {
		for _, name := range allFiles() {
			p := filepath.Join(dir, name)
			if _, err := os.Lstat(p); err == nil {
				return fmt.Errorf("keys: %s: %w; pass --force to replace the whole set (the old keys are lost)", p, ErrExist)
			}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("keys: creating directory %s: %w; choose a writable --keys directory", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("keys: %s: %w", dir, err)
	}
	// Generate every encoding first so that a failure cannot leave a mix.
	type file struct {
		name string
		data []byte
		perm os.FileMode
	}
	var files []file
	for _, r := range Roles {
		k := s.Keys[r]
		if k == nil {
			return fmt.Errorf("keys: BUG: set has no %s key", r)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k.Signer)
		if err != nil {
			return fmt.Errorf("keys: encoding %s key: %w", r, err)
		}
		keyName, pubName := Files(r)
		files = append(files, file{keyName, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600})
		if k.Cert != nil {
			files = append(files, file{pubName, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.Cert.Raw}), 0o644})
		} else {
			pub, err := x509.MarshalPKIXPublicKey(k.Public())
			if err != nil {
				return fmt.Errorf("keys: encoding %s public key: %w", r, err)
			}
			files = append(files, file{pubName, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644})
		}
	}
	files = append(files, file{ownerFile, []byte(s.Owner.String() + "\n"), 0o644})
	for _, f := range files {
		if err := atomicfile.WriteFile(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return fmt.Errorf("keys: %w; choose a writable --keys directory", err)
		}
	}
	return nil
}

func allFiles() []string {
	names := []string{ownerFile}
	for _, r := range Roles {
		k, p := Files(r)
		names = append(names, k, p)
	}
	return names
}

// PubPath is the path of the public half of role r in the key set dir
// (a certificate or a public key).
func PubPath(dir string, r Role) string {
	_, pub := Files(r)
	return filepath.Join(dir, pub)
}

// Load reads the set from dir and checks that every certificate or public
// key belongs to its private key.
func Load(dir string) (*Set, error) {
	s := &Set{Keys: map[Role]*Key{}}
	for _, r := range Roles {
		k, err := LoadRole(dir, r)
		if err != nil {
			return nil, err
		}
		s.Keys[r] = k
	}
	p := filepath.Join(dir, ownerFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, loadErr(p, err)
	}
	if s.Owner, err = gpt.ParseGUID(strings.TrimSpace(string(b))); err != nil {
		return nil, fmt.Errorf("keys: %s: invalid GUID: %w", p, err)
	}
	return s, nil
}

// LoadRole reads one role's key, for commands that need only one.
func LoadRole(dir string, r Role) (*Key, error) {
	keyName, pubName := Files(r)
	kp := filepath.Join(dir, keyName)
	signer, err := readPrivate(kp)
	if err != nil {
		return nil, err
	}
	k := &Key{Role: r, Signer: signer}
	pp := filepath.Join(dir, pubName)
	b, err := os.ReadFile(pp)
	if err != nil {
		return nil, loadErr(pp, err)
	}
	var pub crypto.PublicKey
	if info[r].cert {
		if k.Cert, err = ParseCert(b); err != nil {
			return nil, corrupt(pp, err.Error())
		}
		if err := checkCertRole(pp, k.Cert, r); err != nil {
			return nil, err
		}
		pub = k.Cert.PublicKey
	} else {
		blk, _ := pem.Decode(b)
		if blk == nil || blk.Type != "PUBLIC KEY" {
			return nil, corrupt(pp, "not a PEM public key")
		}
		if pub, err = x509.ParsePKIXPublicKey(blk.Bytes); err != nil {
			return nil, corrupt(pp, err.Error())
		}
	}
	if eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(signer.Public()) {
		return nil, corrupt(pp, "does not belong to "+keyName)
	}
	if want := info[r].rsa; want != strings.HasPrefix(algorithm(pub), "RSA") {
		return nil, corrupt(kp, "wrong key type "+algorithm(pub)+" for the "+string(r)+" role")
	}
	return k, nil
}

// checkCertRole refuses a certificate made for another role: the Secure
// Boot PK and KEK are CA certificates and the db's is not, and the
// certificates keys init makes name their role in the subject. A KEK pair
// copied in as the db would otherwise be enrolled and signed with.
func checkCertRole(p string, c *x509.Certificate, r Role) error {
	if r != PK && r != KEK && r != DB {
		return nil
	}
	for _, other := range []Role{PK, KEK, DB} {
		if other != r && strings.Contains(strings.ToLower(c.Subject.CommonName), "("+string(other)+")") {
			return fmt.Errorf("keys: %s is the %s certificate (subject %q), not the %s's: put each role's pair in its own files", p, other, c.Subject.CommonName, r)
		}
	}
	if wantCA := r != DB; c.IsCA != wantCA {
		return fmt.Errorf("keys: %s: the %s certificate must %sbe a CA certificate (subject %q): is it another role's?", p, r, map[bool]string{true: "", false: "not "}[wantCA], c.Subject.CommonName)
	}
	return nil
}

func readPrivate(p string) (crypto.Signer, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, loadErr(p, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("keys: %s is readable or writable by others (mode %04o): a private key must be private; run 'chmod 600 %s'", p, perm, p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, loadErr(p, err)
	}
	blk, _ := pem.Decode(b)
	if blk != nil && blk.Type != "PRIVATE KEY" {
		return nil, foreignKey(p, blk)
	}
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, corrupt(p, "not a PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, corrupt(p, err.Error())
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, corrupt(p, fmt.Sprintf("unsupported key type %T", k))
	}
	return signer, nil
}

// foreignKey explains a PEM private key in a format hardenvm does not read
// (encrypted, PKCS#1, SEC 1): it is not corrupted, only to be converted.
func foreignKey(p string, blk *pem.Block) error {
	convert := fmt.Sprintf("convert it with 'openssl pkcs8 -topk8 -nocrypt -in %s -out %s.pkcs8' and put that in its place", p, p)
	switch {
	case blk.Type == "ENCRYPTED PRIVATE KEY" || blk.Headers["Proc-Type"] == "4,ENCRYPTED":
		return fmt.Errorf("keys: %s is encrypted; hardenvm reads unencrypted PKCS#8 keys (keep the directory private instead): %s", p, convert)
	case blk.Type == "RSA PRIVATE KEY" || blk.Type == "EC PRIVATE KEY":
		return fmt.Errorf("keys: %s is a %s (PKCS#1/SEC 1); hardenvm reads PKCS#8 (\"PRIVATE KEY\"): %s", p, blk.Type, convert)
	}
	return fmt.Errorf("keys: %s holds a PEM %q, not a private key", p, blk.Type)
}

func loadErr(p string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keys: %s is missing; create a key set with 'hardenvm keys init --keys %s'", p, filepath.Dir(p))
	}
	return fmt.Errorf("keys: reading %s: %w", p, err)
}

func corrupt(p, why string) error {
	return fmt.Errorf("keys: %s: %s (corrupted?); restore it from a backup, or replace the whole set with 'hardenvm keys init --force'", p, why)
}

// CertRole is the role of a certificate that 'hardenvm keys init' made,
// recognised by the role its subject names; ok is false for any other
// certificate.
func CertRole(c *x509.Certificate) (r Role, ok bool) {
	cn := strings.ToLower(c.Subject.CommonName)
	for _, r := range []Role{PK, KEK, DB} {
		if strings.Contains(cn, "("+string(r)+")") {
			return r, true
		}
	}
	if strings.Contains(cn, strings.ToLower(subjectRole(Admin))) {
		return Admin, true
	}
	return "", false
}
