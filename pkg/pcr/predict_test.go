package pcr

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/hardenvm/hardenvm/boot/measure"
	"github.com/hardenvm/hardenvm/pkg/manifest"
)

func TestLoadOptions(t *testing.T) {
	tests := []struct {
		name    string
		cmdline string
		want    []byte
	}{
		{"plain", "ro", []byte{'r', 0, 'o', 0, 0, 0}},
		{"control characters become spaces", "a\nb\t", []byte{'a', 0, ' ', 0, 'b', 0, ' ', 0, 0, 0}},
		{"stops at the first NUL", "x\x00junk", []byte{'x', 0, 0, 0}},
		{"empty", "", []byte{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LoadOptions([]byte(tt.cmdline)); !bytes.Equal(got, tt.want) {
				t.Errorf("LoadOptions(%q) = %v, want %v", tt.cmdline, got, tt.want)
			}
		})
	}
}

// TestReplayPCR15 folds the PCR 15 events the way boot/measure does.
func TestReplayPCR15(t *testing.T) {
	root := bytes.Repeat([]byte{0xab}, 32)
	var ev []manifest.PCREvent
	for _, e := range measure.Events(root, nil) {
		d := e.Digest()
		ev = append(ev, manifest.PCREvent{PCR: 15, Type: "hardenvm", SHA256: hexs(d[:])})
	}
	// Events of other PCRs must not count.
	ev = append(ev, manifest.PCREvent{PCR: 4, SHA256: hexs(make([]byte, 32))})
	if got, want := Replay(ev, 15), measure.Predict(root, nil); got != want {
		t.Errorf("Replay = %x, want %x", got, want)
	}
}

func hexs(b []byte) string { return hex.EncodeToString(b) }
