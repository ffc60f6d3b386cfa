package attest_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"

	"github.com/hardenvm/hardenvm/boot/measure"
	"github.com/hardenvm/hardenvm/internal/swtpmtest"
	"github.com/hardenvm/hardenvm/pkg/attest"
	"github.com/hardenvm/hardenvm/pkg/attest/agent"
	"github.com/hardenvm/hardenvm/pkg/attest/agentproto"
	"github.com/hardenvm/hardenvm/pkg/checklist"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/pcr"
)

// startSWTPM manufactures a TPM with an EK certificate (as pkg/vm does)
// and runs swtpm on it for the test.
func startSWTPM(t *testing.T) *swtpmtest.Conn {
	return swtpmtest.Start(t, swtpmtest.Options{EKCert: true, Timeout: 2 * time.Minute})
}

// agentFixture runs the agent's logic on swtpm behind an in-memory pipe,
// with PCR 15 extended and logged the way hardenvm-init does.
type agentFixture struct {
	client                   *attest.Client
	rootHash, configRootHash []byte
	pcr15Log                 string
}

func newAgent(t *testing.T) *agentFixture {
	return newAgentConfig(t, nil)
}

// newAgentConfig is newAgent for a boot that measured a config partition
// with this root hash.
func newAgentConfig(t *testing.T, configRootHash []byte) *agentFixture {
	t.Helper()
	tpm := startSWTPM(t)
	f := &agentFixture{rootHash: bytes.Repeat([]byte{0x5a}, 32), configRootHash: configRootHash}
	var log bytes.Buffer
	for _, e := range measure.Events(f.rootHash, f.configRootHash) {
		_, err := tpm2.PCREvent{PCRHandle: tpm2.AuthHandle{Handle: 15, Auth: tpm2.PasswordAuth(nil)},
			EventData: tpm2.TPM2BEvent{Buffer: []byte(e.Data)}}.Execute(tpm)
		if err != nil {
			t.Fatal(err)
		}
		measure.AppendLog(&log, e)
	}
	f.pcr15Log = filepath.Join(t.TempDir(), "pcr15.log")
	os.WriteFile(f.pcr15Log, log.Bytes(), 0o644)
	k, err := agent.LoadKeys(tpm, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	host, guest := net.Pipe()
	go k.Serve(guest, agent.Logs{Firmware: filepath.Join(t.TempDir(), "no-firmware-log"), PCR15: f.pcr15Log}, t.Logf)
	t.Cleanup(func() { host.Close(); guest.Close() })
	f.client = attest.NewClient(host)
	return f
}

func (f *agentFixture) prediction() *manifest.PCRs {
	v := measure.Predict(f.rootHash, f.configRootHash)
	return &manifest.PCRs{Bank: "sha256", Values: map[string]string{"15": hex.EncodeToString(v[:])},
		Events: pcr.PCR15Events(f.rootHash, f.configRootHash)}
}

// TestAgentConfigSwapped: a VM whose config partition is another (validly
// signed) one than the manifest's fails PCR 15, naming the config.
func TestAgentConfigSwapped(t *testing.T) {
	f := newAgentConfig(t, bytes.Repeat([]byte{0xc1}, 32))
	s, err := f.client.Collect()
	if err != nil {
		t.Fatal(err)
	}
	ok := attest.Verify(s.Evidence, attest.Expect{Nonce: s.Nonce, PCRs: f.prediction(), AKBound: true})
	if c := check(t, ok, "PCR 15"); c.Status != checklist.OK {
		t.Fatalf("PCR 15 with the manifest's config: %s", c.Detail)
	}
	built := &agentFixture{rootHash: f.rootHash, configRootHash: bytes.Repeat([]byte{0xc2}, 32)}
	r := attest.Verify(s.Evidence, attest.Expect{Nonce: s.Nonce, PCRs: built.prediction(), AKBound: true})
	c := check(t, r, "PCR 15")
	if c.Status == checklist.OK || !strings.Contains(c.Detail, "config partition differs") || !strings.Contains(c.Detail, "event 2") {
		t.Errorf("PCR 15 = %+v, want a failure at event 2 naming the config partition", c)
	}
	t.Logf("PCR 15: %s", c.Detail)
}

func check(t *testing.T, r *attest.Result, name string) checklist.Check {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("the report has no %q check: %+v", name, r.Checks)
	return checklist.Check{}
}

// TestAgentQuote runs identity, credential activation and a quote against
// swtpm, then verifies the evidence, and tampered copies of it.
func TestAgentQuote(t *testing.T) {
	f := newAgent(t)
	s, err := f.client.Collect()
	if err != nil {
		t.Fatal(err)
	}
	ev := s.Evidence
	if len(ev.EKCert) == 0 {
		t.Error("no EK certificate, though swtpm_setup created one")
	}
	exp := attest.Expect{Nonce: s.Nonce, PCRs: f.prediction(), AKBound: true}
	r := attest.Verify(ev, exp)
	for _, name := range []string{"AK", "AK bound to EK", "EK certificate", "quote", "PCR 15 log", "PCR 15"} {
		if c := check(t, r, name); c.Status != checklist.OK {
			t.Errorf("%s: %s", name, c.Detail)
		}
	}
	// No firmware log from swtpm: that must fail, never pass.
	if c := check(t, r, "firmware event log"); c.Status == checklist.OK {
		t.Errorf("firmware event log passed without a log: %s", c.Detail)
	}

	tamper := func(mut func(e *agentproto.Evidence)) *agentproto.Evidence {
		c := *ev
		c.PCRs = append([][]byte(nil), ev.PCRs...)
		c.Quote = append([]byte(nil), ev.Quote...)
		c.Signature = append([]byte(nil), ev.Signature...)
		mut(&c)
		return &c
	}
	tests := []struct {
		name  string
		ev    *agentproto.Evidence
		nonce []byte
		want  string
	}{
		{"replayed quote (another nonce)", ev, attest.NewNonce(), "replayed"},
		{"PCR value changed", tamper(func(e *agentproto.Evidence) { e.PCRs[4] = bytes.Repeat([]byte{0xff}, 32) }), s.Nonce, "PCR digest differs"},
		{"quote byte flipped", tamper(func(e *agentproto.Evidence) { e.Quote[len(e.Quote)-1] ^= 1 }), s.Nonce, "does not verify"},
		{"quote truncated", tamper(func(e *agentproto.Evidence) { e.Quote = e.Quote[:len(e.Quote)-7] }), s.Nonce, "does not verify"},
		{"signature truncated", tamper(func(e *agentproto.Evidence) { e.Signature = e.Signature[:20] }), s.Nonce, "signature"},
		{"signature garbled", tamper(func(e *agentproto.Evidence) { e.Signature[len(e.Signature)-3] ^= 0x40 }), s.Nonce, "does not verify"},
		{"fewer PCRs", tamper(func(e *agentproto.Evidence) { e.PCRs = e.PCRs[:15] }), s.Nonce, "16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := attest.Verify(tt.ev, attest.Expect{Nonce: tt.nonce, PCRs: exp.PCRs, AKBound: true})
			c := check(t, r, "quote")
			if c.Status == checklist.OK || !strings.Contains(c.Detail, tt.want) {
				t.Errorf("quote check = %+v, want a failure mentioning %q", c, tt.want)
			}
			if r.Err() == nil {
				t.Error("the report passes")
			}
		})
	}

	// A PCR 15 log that does not replay to the quote is named.
	bad := tamper(func(e *agentproto.Evidence) {
		e.PCR15Log = bytes.Replace(ev.PCR15Log, []byte("5a5a"), []byte("5a5b"), 1)
		e.PCR15Log = fixDigests(t, e.PCR15Log)
	})
	r = attest.Verify(bad, exp)
	if c := check(t, r, "PCR 15 log"); c.Status == checklist.OK || !strings.Contains(c.Detail, "something else extended PCR 15") {
		t.Errorf("PCR 15 log check = %+v", c)
	}
	// A prediction with another root hash: PCR 15 fails naming the root.
	other := &agentFixture{rootHash: bytes.Repeat([]byte{0x11}, 32)}
	p := other.prediction()
	r = attest.Verify(ev, attest.Expect{Nonce: s.Nonce, PCRs: p, AKBound: true})
	if c := check(t, r, "PCR 15"); c.Status == checklist.OK || !strings.Contains(c.Detail, "root differs") {
		t.Errorf("PCR 15 check = %+v, want it to name the root", c)
	}
	t.Logf("PCR 15 with another root: %s", check(t, r, "PCR 15").Detail)
}

// fixDigests rewrites the sha256 fields of a PCR 15 log to match its
// (changed) events, so the log parses and only the replay can catch it.
func fixDigests(t *testing.T, log []byte) []byte {
	var out bytes.Buffer
	for _, line := range strings.Split(strings.TrimSpace(string(log)), "\n") {
		i := strings.Index(line, `"event":"`) + len(`"event":"`)
		j := strings.Index(line[i:], `"`) + i
		d := sha256.Sum256([]byte(line[i:j]))
		k := strings.Index(line, `"sha256":"`) + len(`"sha256":"`)
		out.WriteString(line[:k] + hex.EncodeToString(d[:]) + `"}` + "\n")
	}
	if _, err := measure.ParseLog(bytes.NewReader(out.Bytes())); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
