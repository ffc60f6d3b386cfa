package attest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"github.com/hardenvm/hardenvm/pkg/attest/agentproto"
	"github.com/hardenvm/hardenvm/pkg/checklist"
	"github.com/hardenvm/hardenvm/pkg/manifest"
)

// The testdata come from one boot of images/minimal.yml under OVMF Secure
// Boot with swtpm (test/qemu), and (aavmf-minimal) one of
// images/minimal-arm64.yml under AAVMF Secure Boot on QEMU virt with swtpm
// (hardenvm run, then attest --save): the firmware's event log, the PCRs
// the guest read, and `hardenvm measure --json` of that image.
func realBoot(t testing.TB) (log []byte, pcrs [][]byte, pred *manifest.PCRs) {
	t.Helper()
	return realBootOf(t, "ovmf-minimal")
}

// realBootOf reads the testdata of one boot (ovmf-minimal, aavmf-minimal).
func realBootOf(t testing.TB, name string) (log []byte, pcrs [][]byte, pred *manifest.PCRs) {
	t.Helper()
	log, err := os.ReadFile("testdata/" + name + ".eventlog")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("testdata/" + name + ".pcrs")
	if err != nil {
		t.Fatal(err)
	}
	pcrs = make([][]byte, 16)
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		i, _ := strconv.Atoi(f[0])
		pcrs[i], _ = hex.DecodeString(f[1])
	}
	b, err = os.ReadFile("testdata/" + name + ".prediction.json")
	if err != nil {
		t.Fatal(err)
	}
	pred = &manifest.PCRs{}
	if err := json.Unmarshal(b, pred); err != nil {
		t.Fatal(err)
	}
	return log, pcrs, pred
}

// TestRealLogMatchesPrediction replays a real OVMF log and a real AAVMF
// (arm64) log against the PCRs the guest read, and compares every event of
// the predicted PCRs with the prediction made from the image's artifacts.
func TestRealLogMatchesPrediction(t *testing.T) {
	for _, boot := range []string{"ovmf-minimal", "aavmf-minimal"} {
		t.Run(boot, func(t *testing.T) { realLogMatchesPrediction(t, boot) })
	}
}

func realLogMatchesPrediction(t *testing.T, boot string) {
	log, pcrs, pred := realBootOf(t, boot)
	events, err := replayFirmwareLog(log, pcrs)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{4, 5, 7, 9, 11} {
		var got []logEvent
		for _, e := range events {
			if e.Index == i {
				got = append(got, logEvent{digest: e.Digest})
			}
		}
		var want []string
		for _, e := range pred.Events {
			if e.PCR == i {
				want = append(want, e.SHA256)
			}
		}
		if len(got) != len(want) {
			t.Errorf("PCR %d: %d events logged, %d predicted", i, len(got), len(want))
			continue
		}
		for j := range got {
			if hex.EncodeToString(got[j].digest) != want[j] {
				t.Errorf("PCR %d event %d: logged %x, predicted %s", i, j, got[j].digest, want[j])
			}
		}
		if hex.EncodeToString(pcrs[i]) != pred.Values[strconv.Itoa(i)] {
			t.Errorf("PCR %d = %x, predicted %s", i, pcrs[i], pred.Values[strconv.Itoa(i)])
		}
	}
}

// TestExplainNamesTheEvent: a prediction for another db, another
// command line or another UKI is reported with what differs.
func TestExplainNamesTheEvent(t *testing.T) {
	log, pcrs, pred := realBoot(t)
	events, err := replayFirmwareLog(log, pcrs)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pcr  int
		what string // the predicted event changed
		want string
	}{
		{7, "Secure Boot variable db: db changed", "db changed"},
		{4, "the UKI (Authenticode hash): UKI differs", "UKI differs"},
		{9, "kernel command line (LoadOptions): cmdline differs", "cmdline differs"},
		{11, "UKI section .cmdline: cmdline differs", "cmdline differs"},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			p := *pred
			p.Events = append([]manifest.PCREvent(nil), pred.Events...)
			found := false
			for i, e := range p.Events {
				if e.PCR == tt.pcr && e.What == tt.what {
					p.Events[i].SHA256 = strings.Repeat("00", 32)
					found = true
				}
			}
			if !found {
				t.Fatalf("no predicted event %q", tt.what)
			}
			var got []logEvent
			for _, e := range events {
				if e.Index == tt.pcr {
					got = append(got, logEvent{typ: eventTypeName(e.Type), digest: e.Digest})
				}
			}
			err := explain(tt.pcr, hex.EncodeToString(pcrs[tt.pcr]), "predicted", got, p.Events)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.what) {
				t.Errorf("explain = %v, want it to name %q", err, tt.what)
			}
		})
	}
}

// TestBrokenLogs: a truncated or garbled log, or one that does not match
// the PCRs, is an error, never a replay.
func TestBrokenLogs(t *testing.T) {
	log, pcrs, _ := realBoot(t)
	flipped := append([]byte(nil), log...)
	flipped[len(flipped)-40] ^= 0xff // inside the last event's data: parses, replays wrong
	other := append([][]byte(nil), pcrs...)
	other[7] = make([]byte, 32)
	tests := []struct {
		name string
		log  []byte
		pcrs [][]byte
	}{
		{"empty", nil, pcrs},
		{"truncated in the header", log[:20], pcrs},
		{"truncated in an event", log[:len(log)-10], pcrs},
		{"garbled event size", garble(log, 200), pcrs},
		{"digest flipped", flipDigest(log), pcrs},
		{"PCR 7 differs", log, other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := replayFirmwareLog(tt.log, tt.pcrs); err == nil {
				t.Error("replayFirmwareLog accepted it")
			} else {
				t.Log(err)
			}
		})
	}
}

func garble(b []byte, at int) []byte {
	c := append([]byte(nil), b...)
	for i := at; i < at+8 && i < len(c); i++ {
		c[i] = 0xff
	}
	return c
}

// flipDigest changes one byte of the last event's SHA-256 digest.
func flipDigest(b []byte) []byte {
	c := append([]byte(nil), b...)
	// The last event is EV_EFI_ACTION "Exit Boot Services Returned with
	// Success": its digest sits before the 4-byte size and the string.
	s := []byte("Exit Boot Services Returned with Success")
	i := bytes.LastIndex(c, s)
	c[i-4-5] ^= 1
	return c
}

// softQuote makes a quote the way a TPM would, signed by a software key,
// for the fuzzer's seeds.
func softQuote(t testing.TB, nonce []byte, pcrs [][]byte) (akPub, quoted, sig []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub := tpm2.TPMTPublic{
		Type: tpm2.TPMAlgECC, NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true,
			UserWithAuth: true, Restricted: true, SignEncrypt: true},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			Scheme: tpm2.TPMTECCScheme{Scheme: tpm2.TPMAlgECDSA,
				Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSigSchemeECDSA{HashAlg: tpm2.TPMAlgSHA256})},
			CurveID: tpm2.TPMECCNistP256}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
			X: tpm2.TPM2BECCParameter{Buffer: k.X.FillBytes(make([]byte, 32))},
			Y: tpm2.TPM2BECCParameter{Buffer: k.Y.FillBytes(make([]byte, 32))}}),
	}
	name, err := tpm2.ObjectName(&pub)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, p := range pcrs {
		h.Write(p)
	}
	att := tpm2.TPMSAttest{
		Magic: tpm2.TPMGeneratedValue, Type: tpm2.TPMSTAttestQuote,
		QualifiedSigner: tpm2.TPM2BName{Buffer: qualifiedName(name.Buffer)},
		ExtraData:       tpm2.TPM2BData{Buffer: nonce},
		Attested: tpm2.NewTPMUAttest(tpm2.TPMSTAttestQuote, &tpm2.TPMSQuoteInfo{
			PCRSelect: tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{Hash: tpm2.TPMAlgSHA256, PCRSelect: quotedPCRs}}},
			PCRDigest: tpm2.TPM2BDigest{Buffer: h.Sum(nil)},
		}),
	}
	quoted = tpm2.Marshal(att)
	d := sha256.Sum256(quoted)
	r, s, err := ecdsa.Sign(rand.Reader, k, d[:])
	if err != nil {
		t.Fatal(err)
	}
	sig = tpm2.Marshal(tpm2.TPMTSignature{SigAlg: tpm2.TPMAlgECDSA, Signature: tpm2.NewTPMUSignature(tpm2.TPMAlgECDSA,
		&tpm2.TPMSSignatureECC{Hash: tpm2.TPMAlgSHA256,
			SignatureR: tpm2.TPM2BECCParameter{Buffer: r.Bytes()}, SignatureS: tpm2.TPM2BECCParameter{Buffer: s.Bytes()}})})
	return tpm2.Marshal(pub), quoted, sig
}

func TestSoftQuoteVerifies(t *testing.T) {
	_, pcrs, _ := realBoot(t)
	nonce := bytes.Repeat([]byte{7}, 32)
	akPub, quoted, sig := softQuote(t, nonce, pcrs)
	ak, name, err := ParseAK(akPub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyQuote(ak, name, quoted, sig, nonce, pcrs); err != nil {
		t.Fatal(err)
	}
}

// FuzzQuote: whatever the bytes, VerifyQuote never panics, and accepts
// only the attestation structure that was signed, with its PCRs.
func FuzzQuote(f *testing.F) {
	_, pcrs, _ := realBoot(f)
	nonce := bytes.Repeat([]byte{7}, 32)
	akPub, quoted, sig := softQuote(f, nonce, pcrs)
	ak, name, err := ParseAK(akPub)
	if err != nil {
		f.Fatal(err)
	}
	var all []byte
	for _, p := range pcrs {
		all = append(all, p...)
	}
	f.Add(quoted, sig, all)
	f.Add(quoted[:len(quoted)/2], sig, all)
	f.Add([]byte{0xff, 0x54, 0x43, 0x47, 0x80, 0x18}, sig[:10], all[:32])
	f.Fuzz(func(t *testing.T, q, s, p []byte) {
		var vals [][]byte
		for len(p) >= 32 {
			vals = append(vals, p[:32])
			p = p[32:]
		}
		if _, err := VerifyQuote(ak, name, q, s, nonce, vals); err == nil {
			if !bytes.Equal(q, quoted) || !bytes.Equal(bytes.Join(vals, nil), all) {
				t.Fatalf("accepted a quote that was not signed: %x", q)
			}
		}
		ParseAK(q) // never panics either
	})
}

// FuzzFirmwareLog: the TCG log parser and replay never panic, and never
// accept a log whose replay differs from the PCRs.
func FuzzFirmwareLog(f *testing.F) {
	log, pcrs, _ := realBoot(f)
	f.Add(log)
	f.Add(log[:len(log)/2])
	f.Add(log[:64])
	f.Fuzz(func(t *testing.T, b []byte) {
		events, err := replayFirmwareLog(b, pcrs)
		if err != nil {
			return
		}
		replayed := map[int][]byte{}
		for _, e := range events {
			if replayed[e.Index] == nil {
				replayed[e.Index] = make([]byte, 32)
			}
			s := sha256.Sum256(append(replayed[e.Index], e.Digest...))
			replayed[e.Index] = s[:]
		}
		for i, v := range replayed {
			if i != 0 && !bytes.Equal(v, pcrs[i]) { // PCR 0 may start at a locality
				t.Fatalf("accepted a log replaying PCR %d to %x, not %x", i, v, pcrs[i])
			}
		}
	})
}

// BenchmarkVerify checks one piece of evidence of the size a real boot
// sends (the OVMF log of testdata, a software-signed quote): the work a
// verifier does per VM.
func BenchmarkVerify(b *testing.B) {
	log, pcrs, pred := realBoot(b)
	pcr15, err := os.ReadFile("testdata/ovmf-minimal.pcr15.log")
	if err != nil {
		b.Fatal(err)
	}
	nonce := bytes.Repeat([]byte{7}, 32)
	akPub, quoted, sig := softQuote(b, nonce, pcrs)
	ev := &agentproto.Evidence{Identity: agentproto.Identity{AKPublic: akPub}, Quote: quoted, Signature: sig,
		PCRs: pcrs, EventLog: log, PCR15Log: pcr15}
	exp := Expect{Nonce: nonce, PCRs: pred}
	if r := Verify(ev, exp); reportFails(r) != "" {
		b.Fatalf("the evidence does not verify: %s", reportFails(r))
	}
	b.ResetTimer()
	for range b.N {
		Verify(ev, exp)
	}
}

// reportFails lists the failed checks other than those saved evidence
// cannot pass (no EK, no golden values).
func reportFails(r *Result) string {
	var bad []string
	for _, c := range r.Checks {
		if c.Status == checklist.Fail && c.Name != "EK certificate" {
			bad = append(bad, c.Name+": "+c.Detail)
		}
	}
	return strings.Join(bad, "; ")
}
