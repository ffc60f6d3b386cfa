package tpm

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"testing"

	"github.com/hardenvm/hardenvm/internal/swtpmtest"
)

// startSWTPM runs a fresh swtpm for the test.
func startSWTPM(t *testing.T) io.ReadWriter { return swtpmtest.Start(t, swtpmtest.Options{}) }

// TestAgainstSWTPM extends PCR 15 twice and reads it back: the value must
// be the SHA-256 chain over the events' digests.
func TestAgainstSWTPM(t *testing.T) {
	tpm := startSWTPM(t)
	got, err := PCRRead(tpm, 15)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, make([]byte, 32)) {
		t.Fatalf("fresh PCR 15 = %x", got)
	}
	want := make([]byte, 32)
	for _, ev := range []string{"hardenvm:root-hash:00ff", "hardenvm:enter-userspace"} {
		d, err := PCREvent(tpm, 15, []byte(ev))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256([]byte(ev))
		if !bytes.Equal(d, h[:]) {
			t.Errorf("PCREvent(%q) digest %x, want %x", ev, d, h)
		}
		s := sha256.Sum256(append(want, h[:]...))
		want = s[:]
	}
	if got, err = PCRRead(tpm, 15); err != nil || !bytes.Equal(got, want) {
		t.Errorf("PCR 15 = %x (%v), want %x", got, err, want)
	}
	if other, err := PCRRead(tpm, 14); err != nil || !bytes.Equal(other, make([]byte, 32)) {
		t.Errorf("PCR 14 = %x (%v), want zeros", other, err)
	}

	// There is no PCR 30: the TPM's error comes back as an Error.
	_, err = PCREvent(tpm, 30, []byte("x"))
	var rc Error
	if !errors.As(err, &rc) {
		t.Errorf("PCREvent(PCR 30) = %v, want a TPM response code", err)
	}
	if _, err := PCREvent(tpm, 15, make([]byte, maxEvent+1)); err == nil {
		t.Error("oversized event accepted")
	}
}

func TestMalformedResponses(t *testing.T) {
	for _, rsp := range [][]byte{
		nil,
		{0x80, 0x01, 0, 0, 0, 10},
		{0x80, 0x01, 0, 0, 0, 12, 0, 0, 0, 0, 1, 2},
		{0x80, 0x02, 0, 0, 0, 14, 0, 0, 0, 0, 0, 0, 0, 99},
	} {
		rw := &canned{rsp: rsp}
		if _, err := PCREvent(rw, 15, []byte("x")); err == nil {
			t.Errorf("PCREvent accepted response %x", rsp)
		}
		if _, err := PCRRead(rw, 15); err == nil {
			t.Errorf("PCRRead accepted response %x", rsp)
		}
	}
}

type canned struct{ rsp []byte }

func (c *canned) Write(p []byte) (int, error) { return len(p), nil }
func (c *canned) Read(p []byte) (int, error)  { return copy(p, c.rsp), nil }
