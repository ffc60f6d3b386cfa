package measure

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// TestPredictByHand computes PCR 15 from the documented bytes, without
// the package's helpers.
func TestPredictByHand(t *testing.T) {
	root := mustHex("4d2a1a4b4fc8e1f0f1d7a1e1f8b0f8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f")
	cfg := mustHex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	ext := func(pcr []byte, data string) []byte {
		d := sha256.Sum256([]byte(data))
		s := sha256.Sum256(append(append([]byte{}, pcr...), d[:]...))
		return s[:]
	}
	want := ext(ext(make([]byte, 32), "hardenvm:root-hash:"+hex.EncodeToString(root)), "hardenvm:enter-userspace")
	if got := Predict(root, nil); !bytes.Equal(got[:], want) {
		t.Errorf("Predict(root, nil) = %x, want %x", got, want)
	}
	want = ext(ext(ext(make([]byte, 32), "hardenvm:root-hash:"+hex.EncodeToString(root)),
		"hardenvm:config-root-hash:"+hex.EncodeToString(cfg)), "hardenvm:enter-userspace")
	if got := Predict(root, cfg); !bytes.Equal(got[:], want) {
		t.Errorf("Predict(root, cfg) = %x, want %x", got, want)
	}
}

func TestLogRoundTrip(t *testing.T) {
	ev := Events(mustHex("aa55"), mustHex("0102"))
	var buf bytes.Buffer
	for _, e := range ev {
		if err := AppendLog(&buf, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ParseLog(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ev, got); diff != "" {
		t.Errorf("diff (-want +got):\n%s", diff)
	}
}

func TestParseLogRefuses(t *testing.T) {
	good := func(e Event) string {
		var b bytes.Buffer
		AppendLog(&b, e)
		return b.String()
	}
	sep := good(EnterUserspace())
	tests := []struct{ name, log, want string }{
		{"wrong digest", strings.Replace(sep, `"sha256":"`, `"sha256":"00`, 1), "does not match"},
		{"wrong pcr", strings.Replace(sep, `"pcr":15`, `"pcr":14`, 1), "PCR 14"},
		{"unknown kind", good(Event{"hardenvm:other"}), "unknown kind"},
		{"foreign event", good(Event{"systemd:foo"}), "not a hardenvm event"},
		{"uppercase hex", good(Event{"hardenvm:root-hash:AA"}), "lowercase hex"},
		{"empty hash", good(Event{"hardenvm:root-hash:"}), "lowercase hex"},
		{"separator with value", good(Event{"hardenvm:enter-userspace:00"}), "no value"},
		{"unknown field", `{"pcr":15,"event":"hardenvm:enter-userspace","sha256":"x","x":1}` + "\n", "unknown field"},
		{"not json", "hello\n", "line 1"},
		{"trailing", strings.TrimSpace(sep) + " {}\n", "trailing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseLog(strings.NewReader(tt.log))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseLog(%q) = %v, want an error containing %q", tt.log, err, tt.want)
			}
		})
	}
}

func FuzzParseLog(f *testing.F) {
	var b bytes.Buffer
	for _, e := range Events(mustHex("aa55"), mustHex("0102")) {
		AppendLog(&b, e)
	}
	f.Add(b.Bytes())
	f.Add([]byte(`{"pcr":15}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := ParseLog(bytes.NewReader(data))
		if err != nil {
			return
		}
		var out bytes.Buffer
		for _, e := range ev {
			if err := AppendLog(&out, e); err != nil {
				t.Fatal(err)
			}
		}
		again, err := ParseLog(&out)
		if err != nil {
			t.Fatalf("re-parsing a written log: %v", err)
		}
		if Replay(ev) != Replay(again) {
			t.Fatal("replay changed across a round trip")
		}
	})
}

// TestDocumentedExample checks the worked example of PCR15.md.
func TestDocumentedExample(t *testing.T) {
	root := mustHex("2d4bb1641cf0f38a7546dd3d28faf90a07e985fa8766b0026c3894383e5188b4")
	ev := Events(root, nil)
	if d := ev[0].Digest(); hex.EncodeToString(d[:]) != "d9fb65f383663e2e7c4ec823cf1ec59f45100d754bea8462822a67777fd9c816" {
		t.Errorf("root-hash event digest %x", d)
	}
	if got := Replay(ev[:1]); hex.EncodeToString(got[:]) != "e3dd0b6e60b06984efa2a7d439189e4c8c48750b8078a93e5a22dfbfb7b544cb" {
		t.Errorf("PCR 15 after the root hash %x", got)
	}
	if got := Predict(root, nil); hex.EncodeToString(got[:]) != "4ab80cb585057123572f856399d0e683d4346a7882681c0cbacc5d1f56a06058" {
		t.Errorf("PCR 15 at stage 2 %x", got)
	}
}
