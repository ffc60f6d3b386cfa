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
		return fmt.Errorf("keys: creating directory %s: %w; choose a writable --dir", dir, err)
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
	files = append(files, file{ownerFile, []byte(GUIDString(s.Owner) + "\n"), 0o644})
	for _, f := range files {
		if err := atomicfile.WriteFile(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return fmt.Errorf("keys: %w; choose a writable --dir", err)
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
	if s.Owner, err = ParseGUID(strings.TrimSpace(string(b))); err != nil {
		return nil, fmt.Errorf("keys: %s: %w", p, err)
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
		blk, _ := pem.Decode(b)
		if blk == nil || blk.Type != "CERTIFICATE" {
			return nil, corrupt(pp, "not a PEM certificate")
		}
		if k.Cert, err = x509.ParseCertificate(blk.Bytes); err != nil {
			return nil, corrupt(pp, err.Error())
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

func readPrivate(p string) (crypto.Signer, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, loadErr(p, err)
	}
	blk, _ := pem.Decode(b)
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

func loadErr(p string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keys: %s is missing; create a key set with 'hardenvm keys init --dir %s'", p, filepath.Dir(p))
	}
	return fmt.Errorf("keys: reading %s: %w", p, err)
}

func corrupt(p, why string) error {
	return fmt.Errorf("keys: %s: %s (corrupted?); restore it from a backup, or replace the whole set with 'hardenvm keys init --force'", p, why)
}
