package keys

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testSet is generated once: RSA key generation is slow.
var testSet = func() *Set {
	s, err := Generate(Options{Now: now})
	if err != nil {
		panic(err)
	}
	return s
}()

func TestGenerate(t *testing.T) {
	tests := []struct {
		role     Role
		alg      string
		hasCert  bool
		codeSign bool
	}{
		{PK, "RSA-2048", true, false},
		{KEK, "RSA-2048", true, false},
		{DB, "RSA-2048", true, true},
		{Admin, "ECDSA-P-256", true, false},
		{Signing, "ECDSA-P-256", false, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.role), func(t *testing.T) {
			k := testSet.Get(tt.role)
			if got := k.Algorithm(); got != tt.alg {
				t.Errorf("Algorithm() = %s, want %s", got, tt.alg)
			}
			if (k.Cert != nil) != tt.hasCert {
				t.Fatalf("has cert = %v, want %v", k.Cert != nil, tt.hasCert)
			}
			if k.Cert == nil {
				return
			}
			if !strings.Contains(k.Cert.Subject.CommonName, "hardenvm") {
				t.Errorf("subject %q does not name the organisation", k.Cert.Subject)
			}
			if err := k.Cert.CheckSignature(k.Cert.SignatureAlgorithm, k.Cert.RawTBSCertificate, k.Cert.Signature); err != nil {
				t.Errorf("self-signature: %v", err)
			}
			hasCS := len(k.Cert.ExtKeyUsage) == 1 && k.Cert.ExtKeyUsage[0] == x509.ExtKeyUsageCodeSigning
			if hasCS != tt.codeSign {
				t.Errorf("code signing EKU = %v, want %v", hasCS, tt.codeSign)
			}
			if k.Cert.NotAfter.Before(now.AddDate(20, 0, 0)) {
				t.Errorf("certificate expires %v, too soon for firmware keys", k.Cert.NotAfter)
			}
		})
	}
	if testSet.Get(PK).Fingerprint() == testSet.Get(KEK).Fingerprint() {
		t.Error("PK and KEK have the same fingerprint")
	}
}

func TestWriteLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	if err := Write(dir, testSet, false); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", fi.Mode().Perm())
	}
	for _, r := range Roles {
		kn, _ := Files(r)
		fi, err := os.Stat(filepath.Join(dir, kn))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", kn, fi.Mode().Perm(), err)
		}
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner != testSet.Owner {
		t.Errorf("owner %x, want %x", got.Owner, testSet.Owner)
	}
	for _, r := range Roles {
		if g, w := got.Get(r).Fingerprint(), testSet.Get(r).Fingerprint(); g != w {
			t.Errorf("%s fingerprint %s, want %s", r, g, w)
		}
	}
}

func TestWriteRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, testSet, false); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "db.key"))
	other := &Set{Keys: map[Role]*Key{}, Owner: [16]byte{1}}
	for r, k := range testSet.Keys {
		other.Keys[r] = k
	}
	other.Keys[DB] = testSet.Keys[KEK]
	if err := Write(dir, other, false); !errors.Is(err, ErrExist) {
		t.Fatalf("second Write = %v, want ErrExist", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "db.key"))
	if string(before) != string(after) {
		t.Fatal("refused Write changed db.key")
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(dir string)
		want   string
	}{
		{"missing", func(d string) { os.Remove(filepath.Join(d, "kek.key")) }, "kek.key is missing"},
		{"garbage key", func(d string) { os.WriteFile(filepath.Join(d, "db.key"), []byte("garbage"), 0o600) }, "db.key: not a PEM private key"},
		{"truncated cert", func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, "pk.crt"))
			os.WriteFile(filepath.Join(d, "pk.crt"), b[:len(b)/2], 0o644)
		}, "pk.crt: not a PEM certificate"},
		{"mismatched cert", func(d string) {
			other, err := Generate(Options{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(d, "db.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.Get(DB).Cert.Raw}), 0o644)
		}, "db.crt: does not belong to db.key"},
		{"KEK cert as db", func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, "kek.crt"))
			os.WriteFile(filepath.Join(d, "db.crt"), b, 0o644)
		}, "db.crt is the kek certificate"},
		{"bad guid", func(d string) { os.WriteFile(filepath.Join(d, "owner.guid"), []byte("nope\n"), 0o644) }, "invalid GUID"},
		{"world-readable key", func(d string) { os.Chmod(filepath.Join(d, "admin.key"), 0o644) }, "admin.key is readable or writable by others (mode 0644)"},
		{"group-writable key", func(d string) { os.Chmod(filepath.Join(d, "pk.key"), 0o620) }, "run 'chmod 600 "},
		{"KEK pair as db", func(d string) {
			for _, ext := range []string{".key", ".crt"} {
				b, _ := os.ReadFile(filepath.Join(d, "kek"+ext))
				os.WriteFile(filepath.Join(d, "db"+ext), b, 0o600)
			}
		}, "db.crt is the kek certificate"},
		{"PKCS#1 key", func(d string) {
			b := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testSet.Get(DB).Signer.(*rsa.PrivateKey))})
			os.WriteFile(filepath.Join(d, "db.key"), b, 0o600)
		}, "db.key is a RSA PRIVATE KEY (PKCS#1/SEC 1); hardenvm reads PKCS#8"},
		{"encrypted key", func(d string) {
			os.WriteFile(filepath.Join(d, "db.key"), pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}}), 0o600)
		}, "db.key is encrypted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := Write(dir, testSet, false); err != nil {
				t.Fatal(err)
			}
			tt.mutate(dir)
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestParseCert(t *testing.T) {
	set, err := Generate(Options{Now: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Write(dir, set, false); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		want error // nil: parses
	}{
		{"db.crt", nil},
		{"admin.crt", nil},
		{"signing.pub", ErrPublicKey},
		{"db.key", ErrNotCert},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c, err := LoadCert(filepath.Join(dir, tt.file))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (c != nil) {
				t.Errorf("LoadCert(%s) = %v, %v, want error %v", tt.file, c != nil, err, tt.want)
			}
		})
	}
	if _, err := LoadCert(filepath.Join(dir, "missing.crt")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadCert(missing) = %v, want fs.ErrNotExist", err)
	}
}
