package configpart

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func newCert(t testing.TB) (*ecdsa.PrivateKey, *x509.Certificate) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "admin"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<32, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return k, c
}

func TestSignVerify(t *testing.T) {
	k, c := newCert(t)
	_, other := newCert(t)
	root := bytes.Repeat([]byte{7}, 32)
	s, err := Sign(k, c, root, 12)
	if err != nil {
		t.Fatal(err)
	}
	// Deterministic for an in-memory key: the image stays reproducible.
	if again, _ := Sign(k, c, root, 12); again != s {
		t.Errorf("two signatures of the same root hash differ: %s vs %s", s.Signature, again.Signature)
	}
	blk, err := s.MarshalBlock()
	if err != nil || len(blk) != SigBlockSize {
		t.Fatalf("MarshalBlock: %v, %d bytes", err, len(blk))
	}
	back, err := ParseBlock(blk)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, back); diff != "" {
		t.Errorf("block round trip (-want +got):\n%s", diff)
	}
	got, err := back.Verify(c)
	if err != nil || !bytes.Equal(got, root) {
		t.Fatalf("Verify = %x, %v", got, err)
	}
	if _, err := back.Verify(other); !errors.Is(err, ErrNotOurs) {
		t.Errorf("Verify(other cert) = %v, want ErrNotOurs", err)
	}
	// The geometry is signed: another block count does not verify.
	moved := back
	moved.DataBlocks = 13
	if _, err := moved.Verify(c); !errors.Is(err, ErrNotOurs) {
		t.Errorf("Verify(data blocks changed) = %v, want ErrNotOurs", err)
	}
	if _, err := Sign(k, other, root, 12); err == nil {
		t.Error("Sign with a certificate of another key succeeded")
	}
	unsigned := Signature{Format: Format, RootHash: s.RootHash, DataBlocks: 12}
	if _, err := unsigned.Verify(c); !errors.Is(err, ErrUnsigned) {
		t.Errorf("Verify(unsigned) = %v, want ErrUnsigned", err)
	}
}

func FuzzParseBlock(f *testing.F) {
	k, c := newCert(f)
	s, _ := Sign(k, c, bytes.Repeat([]byte{1}, 32), 3)
	blk, _ := s.MarshalBlock()
	f.Add(blk)
	f.Add([]byte(`{"format":"hardenvm-config-v1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseBlock(b)
		if err != nil {
			return
		}
		out, err := s.MarshalBlock()
		if err != nil {
			return // too large to store: fine, it was only read
		}
		s2, err := ParseBlock(out)
		if err != nil || !cmp.Equal(s, s2) {
			t.Fatalf("round trip of %q: %v", b, err)
		}
		// Nothing but our key's signature verifies.
		if root, err := s.Verify(c); err == nil && s.Signature != blkSig(blk) {
			t.Fatalf("a fuzzed block verified: %x", root)
		}
	})
}

func blkSig(b []byte) string {
	s, _ := ParseBlock(b)
	return s.Signature
}

// FuzzRead: Read never panics and never returns a layout that does not
// fit the input.
func FuzzRead(f *testing.F) {
	f.Add(make([]byte, 8192))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := Read(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return
		}
		if l.Size > int64(len(b)) || l.SigOffset+SigBlockSize != l.Size {
			t.Fatalf("layout %+v does not fit %d bytes", l, len(b))
		}
	})
}
