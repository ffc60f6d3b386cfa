package runtime

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParseConfig feeds arbitrary config.json bytes to the parser and the
// policy: parsing must round-trip, and Harden must return a config or an
// error, never panic, and never return a config without the user namespace.
func FuzzParseConfig(f *testing.F) {
	files, _ := filepath.Glob("testdata/docker/*.json")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"root":{"path":"r"},"linux":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseConfig(data)
		if err != nil {
			return
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		s2, err := ParseConfig(b)
		if err != nil {
			t.Fatalf("re-parse of marshalled config: %v", err)
		}
		if diff := cmp.Diff(s, s2); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
		res, err := Harden(s, testEnv("x"), Default())
		if err != nil {
			return
		}
		checkUserNS(t, res.Spec)
		for _, r := range res.Spec.Linux.Resources.Devices {
			if allowsAll(r) {
				t.Fatalf("hardened config allows all devices")
			}
		}
	})
}
