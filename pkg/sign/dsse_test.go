package sign

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/pkg/keys"
)

func TestPAE(t *testing.T) {
	// The example of the DSSE v1.0 protocol document.
	got := PAE("http://example.com/HelloWorld", []byte("hello world"))
	if want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"; string(got) != want {
		t.Errorf("PAE() = %q, want %q", got, want)
	}
}

func TestDSSE(t *testing.T) {
	set, err := keys.Generate(keys.Options{Now: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	other, err := keys.Generate(keys.Options{Now: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	key := set.Get(keys.Signing)
	payload := []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)
	b, err := SignDSSE(InTotoPayloadType, payload, key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	typ, got, err := VerifyDSSE(b, key.Public())
	if err != nil || typ != InTotoPayloadType || !bytes.Equal(got, payload) {
		t.Fatalf("VerifyDSSE() = %q, %q, %v", typ, got, err)
	}
	enc := base64.StdEncoding.EncodeToString(payload)
	changed := base64.StdEncoding.EncodeToString(bytes.Replace(payload, []byte("v1"), []byte("v2"), 1))
	manifestBundle, err := SignBytes(payload, key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		bundle []byte
		pub    any
		want   error
	}{
		{"payload byte changed", bytes.Replace(b, []byte(enc), []byte(changed), 1), key.Public(), ErrBadSignature},
		{"payload type changed", bytes.Replace(b, []byte(InTotoPayloadType), []byte("application/vnd.in-toto+jsoN"), 1), key.Public(), ErrBadSignature},
		{"other key", b, other.Get(keys.Signing).Public(), ErrBadSignature},
		{"message signature bundle", manifestBundle, key.Public(), ErrMalformed},
		{"not JSON", []byte("{"), key.Public(), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := VerifyDSSE(tt.bundle, tt.pub); !errors.Is(err, tt.want) {
				t.Errorf("VerifyDSSE() = %v, want %v", err, tt.want)
			}
		})
	}
	if err := VerifyBytes(payload, b, key.Public()); !errors.Is(err, ErrMalformed) {
		t.Errorf("VerifyBytes(DSSE bundle) = %v, want ErrMalformed", err)
	}
}
