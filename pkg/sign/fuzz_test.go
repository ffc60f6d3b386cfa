package sign

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
)

// FuzzVerifyBytes: whatever the bundle and payload, VerifyBytes never
// panics, and it accepts only the payload the key signed.
func FuzzVerifyBytes(f *testing.F) {
	// A fresh key each run: the seeds are signed with it.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	payload := []byte(`{"manifestVersion": 1, "name": "fuzz"}` + "\n")
	bundle, err := SignBytes(payload, key)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(payload, bundle)
	f.Add(payload, []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`))
	f.Add([]byte{}, []byte(`{}`))
	f.Fuzz(func(t *testing.T, p, b []byte) {
		if VerifyBytes(p, b, key.Public()) == nil && !bytes.Equal(p, payload) {
			t.Fatalf("VerifyBytes accepted a payload the key never signed: %q", p)
		}
	})
}
