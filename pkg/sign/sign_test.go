package sign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/hardenvm/hardenvm/pkg/manifest"
)

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The files of an image directory these tests write (pkg/imagedir names
// them for real).
const manifestFile, bundleFile = "manifest.json", "manifest.sigstore.json"

// verifyDir checks dir's bundle against its manifest.
func verifyDir(dir string, pub crypto.PublicKey) error {
	payload, err := os.ReadFile(filepath.Join(dir, manifestFile))
	if err != nil {
		return err
	}
	bundle, err := os.ReadFile(filepath.Join(dir, bundleFile))
	if err != nil {
		return err
	}
	return VerifyBytes(payload, bundle, pub)
}

// signedDir is an image directory holding only a manifest and its bundle.
func signedDir(t testing.TB, key crypto.Signer) string {
	t.Helper()
	dir := t.TempDir()
	m := &manifest.Manifest{Version: manifest.Version, Name: "test", Cmdline: "console=ttyS0",
		Artifacts: map[string]manifest.File{"disk.raw": {SHA256: strings.Repeat("ab", 32), Size: 4096}}}
	payload, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := SignBytes(payload, key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, manifestFile), payload, 0o644)
	os.WriteFile(filepath.Join(dir, bundleFile), bundle, 0o644)
	return dir
}

func TestSignVerify(t *testing.T) {
	key := newKey(t)
	dir := signedDir(t, key)
	if err := verifyDir(dir, key.Public()); err != nil {
		t.Fatalf("verifyDir = %v, want nil", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, bundleFile))
	if err != nil {
		t.Fatal(err)
	}
	// The shape the sigstore bundle spec and cosign expect.
	var got struct {
		MediaType            string
		VerificationMaterial struct {
			PublicKey   struct{ Hint string }
			TlogEntries []any
		}
		MessageSignature struct {
			MessageDigest struct{ Algorithm, Digest string }
			Signature     string
		}
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	hint, _ := KeyHint(key.Public())
	if got.MediaType != MediaType || got.VerificationMaterial.PublicKey.Hint != hint ||
		got.MessageSignature.MessageDigest.Algorithm != "SHA2_256" || got.MessageSignature.Signature == "" {
		t.Errorf("bundle = %s", b)
	}
}

func TestVerifyRejects(t *testing.T) {
	key := newKey(t)
	other := newKey(t)
	dir := signedDir(t, key)
	payload, _ := os.ReadFile(filepath.Join(dir, manifestFile))
	bundle, _ := os.ReadFile(filepath.Join(dir, bundleFile))
	var fields map[string]any
	if err := json.Unmarshal(bundle, &fields); err != nil {
		t.Fatal(err)
	}
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		_ = json.Unmarshal(bundle, &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	ms := func(m map[string]any) map[string]any { return m["messageSignature"].(map[string]any) }
	flipB64 := func(s string) string { // change one decoded byte
		b := []byte(s)
		if b[2] == 'A' {
			b[2] = 'B'
		} else {
			b[2] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name    string
		payload []byte
		bundle  []byte
		pub     crypto.PublicKey
		want    error
		msg     string
	}{
		{"manifest byte changed", append([]byte{payload[0] ^ 1}, payload[1:]...), bundle, key.Public(), ErrManifestChanged, "the bundle signed"},
		{"manifest byte appended", append(append([]byte{}, payload...), 32), bundle, key.Public(), ErrManifestChanged, ""},
		{"other key", payload, bundle, other.Public(), ErrBadSignature, "another key"},
		{"signature byte changed", payload, edit(func(m map[string]any) {
			ms(m)["signature"] = flipB64(ms(m)["signature"].(string))
		}), key.Public(), ErrBadSignature, ""},
		{"digest byte changed", payload, edit(func(m map[string]any) {
			d := ms(m)["messageDigest"].(map[string]any)
			d["digest"] = flipB64(d["digest"].(string))
		}), key.Public(), ErrBadSignature, "message digest"},
		{"hint removed, other key", payload, edit(func(m map[string]any) {
			delete(m["verificationMaterial"].(map[string]any), "publicKey")
			m["verificationMaterial"].(map[string]any)["publicKey"] = map[string]any{}
		}), other.Public(), ErrBadSignature, ""},
		{"media type", payload, edit(func(m map[string]any) { m["mediaType"] = "application/json" }), key.Public(), ErrMalformed, "media type"},
		{"unknown field", payload, edit(func(m map[string]any) { m["extra"] = 1 }), key.Public(), ErrMalformed, ""},
		{"no signature", payload, edit(func(m map[string]any) { delete(m, "messageSignature") }), key.Public(), ErrMalformed, "messageSignature"},
		{"not JSON", payload, []byte("{"), key.Public(), ErrMalformed, ""},
		{"sha512 digest", payload, edit(func(m map[string]any) {
			ms(m)["messageDigest"].(map[string]any)["algorithm"] = "SHA2_512"
		}), key.Public(), ErrMalformed, "SHA2_256"},
		{"certificate material", payload, edit(func(m map[string]any) {
			m["verificationMaterial"] = map[string]any{"certificate": map[string]any{"rawBytes": "AAAA"}}
		}), key.Public(), ErrMalformed, "certificates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyBytes(tt.payload, tt.bundle, tt.pub)
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifyBytes = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("VerifyBytes = %q, want it to mention %q", err, tt.msg)
			}
		})
	}
}

func TestLoadPublicKey(t *testing.T) {
	key := newKey(t)
	pem, err := cryptoutils.MarshalPublicKeyToPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "signing.pub")
	os.WriteFile(p, pem, 0o644)
	pub, err := LoadPublicKey(p)
	if err != nil {
		t.Fatal(err)
	}
	if !key.PublicKey.Equal(pub) {
		t.Error("LoadPublicKey returned another key")
	}
	os.WriteFile(p, []byte("not pem"), 0o644)
	if _, err := LoadPublicKey(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("LoadPublicKey(garbage) = %v, want an error naming the file", err)
	}
}

func BenchmarkSignVerify(b *testing.B) {
	key := newKey(b)
	payload := []byte(strings.Repeat("manifest ", 1000))
	for b.Loop() {
		bundle, err := SignBytes(payload, key)
		if err != nil {
			b.Fatal(err)
		}
		if err := VerifyBytes(payload, bundle, key.Public()); err != nil {
			b.Fatal(err)
		}
	}
}
