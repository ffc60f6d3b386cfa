package dm

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// TestLoadTableLayout checks the DM_TABLE_LOAD buffer against the layout
// of dm-ioctl.h (the kernel is the real peer: test/qemu boots through it).
func TestLoadTableLayout(t *testing.T) {
	targets := []Target{
		{0, 8, "verity", "1 254:1 254:2 4096 4096 1 1 sha256 aa bb 1 restart_on_corruption"},
		{8, 16, "zero", ""},
	}
	b, err := LoadTable("root", true, targets)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	if got := [3]uint32{le.Uint32(b), le.Uint32(b[4:]), le.Uint32(b[8:])}; got != [3]uint32{4, 0, 0} {
		t.Errorf("version %v", got)
	}
	if int(le.Uint32(b[12:])) != len(b) || le.Uint32(b[16:]) != 312 || le.Uint32(b[20:]) != 2 {
		t.Errorf("data_size %d (len %d), data_start %d, target_count %d", le.Uint32(b[12:]), len(b), le.Uint32(b[16:]), le.Uint32(b[20:]))
	}
	if le.Uint32(b[28:])&unix.DM_READONLY_FLAG == 0 {
		t.Error("read-only flag not set")
	}
	if cstring(b[48:176]) != "root" {
		t.Errorf("name %q", cstring(b[48:176]))
	}
	s := b[312:]
	next := le.Uint32(s[20:])
	if next%8 != 0 || int(next) < 40+len(targets[0].Params)+1 {
		t.Errorf("next %d", next)
	}
	if cstring(s[24:40]) != "verity" || cstring(s[40:]) != targets[0].Params {
		t.Errorf("first target %q %q", cstring(s[24:40]), cstring(s[40:]))
	}
	// Turn the load buffer into an answer (next counted from the data
	// area instead of the previous spec) and parse it back.
	if got, err := ParseStatus(b); err != nil || got[0] != targets[0] {
		t.Errorf("ParseStatus: %v, %v", got, err)
	}
	if len(b)%8 != 0 {
		t.Errorf("buffer of %d bytes is not 8-aligned", len(b))
	}
	got, err := ParseStatus(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(targets, got); diff != "" {
		t.Errorf("round trip diff (-want +got):\n%s", diff)
	}
}

func TestRefuses(t *testing.T) {
	for _, tt := range []struct {
		name    string
		targets []Target
		want    string
	}{
		{strings.Repeat("n", 128), []Target{{0, 1, "zero", ""}}, "device name"},
		{"root", nil, "at least one target"},
		{"root", []Target{{0, 1, "a-very-long-type-name", ""}}, "target type"},
		{"root", []Target{{0, 1, "zero", "a\x00b"}}, "NUL"},
	} {
		if _, err := LoadTable(tt.name, false, tt.targets); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("LoadTable(%.10q, %v) = %v, want %q", tt.name, tt.targets, err, tt.want)
		}
	}
	if _, err := ParseStatus(make([]byte, 100)); err == nil {
		t.Error("ParseStatus accepted a short buffer")
	}
}

// FuzzParseStatus feeds arbitrary kernel answers to the parser: errors are
// fine, panics are not.
func FuzzParseStatus(f *testing.F) {
	b, _ := LoadTable("root", true, []Target{{0, 8, "verity", "1 2 3"}})
	f.Add(b)
	f.Add(make([]byte, 312))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseStatus(b)
	})
}
