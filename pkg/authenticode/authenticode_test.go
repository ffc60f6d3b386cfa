package authenticode

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/internal/testkernel"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/uki"
)

func testImage(t *testing.T) []byte {
	t.Helper()
	stub, err := os.ReadFile(testkernel.Stub(t))
	if err != nil {
		t.Fatal(err)
	}
	kernel, err := os.ReadFile(testkernel.Vmlinuz(t))
	if err != nil {
		t.Fatal(err)
	}
	img, err := uki.Build(uki.Input{Stub: stub, Linux: kernel, Initrd: []byte("initrd"), Cmdline: "console=ttyS0", OSRel: "ID=test\n"})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestSignVerify(t *testing.T) {
	sbverify := testenv.Tool(t, "sbverify", "sbsigntool")
	set, err := keys.Generate(keys.Options{Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := keys.Write(dir, set, false); err != nil {
		t.Fatal(err)
	}
	db, kek := set.Get(keys.DB), set.Get(keys.KEK)
	img := testImage(t)

	if err := Verify(img, db.Cert); !errors.Is(err, ErrNotSigned) {
		t.Errorf("Verify(unsigned) = %v, want ErrNotSigned", err)
	}
	signed, err := Sign(img, db.Signer, db.Cert)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Sign(img, db.Signer, db.Cert)
	if !bytes.Equal(signed, again) {
		t.Error("signing the same image twice gave different bytes")
	}
	d1, _ := Digest(img)
	d2, _ := Digest(signed)
	if !bytes.Equal(d1, d2) {
		t.Errorf("digest changed by signing: %x vs %x", d1, d2)
	}
	if err := Verify(signed, db.Cert); err != nil {
		t.Errorf("Verify(signed, db) = %v", err)
	}
	if err := Verify(signed, kek.Cert); err == nil {
		t.Error("Verify against another certificate succeeded")
	}
	if certs, err := Signers(signed); err != nil || len(certs) != 1 || !certs[0].Equal(db.Cert) {
		t.Errorf("Signers = %v, %v", certs, err)
	}

	// The independent verifier agrees.
	f := filepath.Join(dir, "uki.efi")
	os.WriteFile(f, signed, 0o644)
	if out, err := exec.Command(sbverify, "--cert", filepath.Join(dir, "db.crt"), f).CombinedOutput(); err != nil {
		t.Errorf("sbverify --cert db.crt: %v\n%s", err, out)
	}
	if out, err := exec.Command(sbverify, "--cert", filepath.Join(dir, "kek.crt"), f).CombinedOutput(); err == nil {
		t.Errorf("sbverify accepted the wrong certificate:\n%s", out)
	}

	// One byte changed in .cmdline breaks both verifiers.
	secs, _ := uki.Sections(signed)
	tampered := append([]byte(nil), signed...)
	for _, s := range secs {
		if s.Name == ".cmdline" {
			tampered[s.Offset] ^= 1
		}
	}
	if err := Verify(tampered, db.Cert); err == nil {
		t.Error("Verify accepted a tampered image")
	}
	os.WriteFile(f, tampered, 0o644)
	if out, err := exec.Command(sbverify, "--cert", filepath.Join(dir, "db.crt"), f).CombinedOutput(); err == nil {
		t.Errorf("sbverify accepted a tampered image:\n%s", out)
	}
}

func TestSignRejectsECDSA(t *testing.T) {
	set, _ := keys.Generate(keys.Options{Now: time.Now()})
	admin := set.Get(keys.Admin)
	if _, err := Sign(testImage(t), admin.Signer, admin.Cert); err == nil {
		t.Error("Sign with an ECDSA key succeeded")
	}
}
