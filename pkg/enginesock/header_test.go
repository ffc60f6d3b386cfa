package enginesock

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHeader(t *testing.T) {
	tests := []struct {
		name string
		h    Header
		wire string // "" when MarshalBinary refuses h
	}{
		{"engine", Header{Kind: KindEngine}, "\x01E\x00"},
		{"tcp4", Header{Kind: KindTCP, Target: netip.MustParseAddrPort("127.0.0.1:8080")}, "\x01T\x0e127.0.0.1:8080"},
		{"tcp6", Header{Kind: KindTCP, Target: netip.MustParseAddrPort("[::1]:80")}, "\x01T\x08[::1]:80"},
		{"engine with a target", Header{Kind: KindEngine, Target: netip.MustParseAddrPort("127.0.0.1:1")}, ""},
		{"tcp without a target", Header{Kind: KindTCP}, ""},
		{"tcp port 0", Header{Kind: KindTCP, Target: netip.MustParseAddrPort("127.0.0.1:0")}, ""},
		{"unknown kind", Header{Kind: 'U'}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.h.MarshalBinary()
			if tt.wire == "" {
				if err == nil || !errors.Is(err, ErrHeader) {
					t.Fatalf("MarshalBinary(%+v) = %q, %v; want ErrHeader", tt.h, b, err)
				}
				return
			}
			if err != nil || string(b) != tt.wire {
				t.Fatalf("MarshalBinary(%+v) = %q, %v; want %q", tt.h, b, err, tt.wire)
			}
			r := bytes.NewReader(append(b, "rest"...))
			got, err := ReadHeader(r)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.h, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
				t.Errorf("ReadHeader: diff (-want +got):\n%s", diff)
			}
			if r.Len() != len("rest") {
				t.Errorf("ReadHeader read past the header: %d bytes left, want 4", r.Len())
			}
		})
	}
}

func TestReadHeaderRefuses(t *testing.T) {
	tests := []struct{ name, wire string }{
		{"empty", ""},
		{"short", "\x01E"},
		{"version 2", "\x02E\x00"},
		{"HTTP from an older host", "GET /_ping HTTP/1.1\r\n"},
		{"unknown kind", "\x01X\x00"},
		{"engine with a target", "\x01E\x03abc"},
		{"truncated target", "\x01T\x0e127.0.0.1"},
		{"a name, not an IP", "\x01T\x0elocalhost:8080"},
		{"no port", "\x01T\x09127.0.0.1"},
		{"port 0", "\x01T\x0b127.0.0.1:0"},
		{"port too big", "\x01T\x0f127.0.0.1:65536"},
		{"zone", "\x01T\x0e[fe80::1%e]:80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h, err := ReadHeader(bytes.NewReader([]byte(tt.wire))); err == nil {
				t.Errorf("ReadHeader(%q) = %+v, want an error", tt.wire, h)
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	tests := []struct {
		target, want string // want "": refused
	}{
		{"127.0.0.1:8080", "127.0.0.1:8080"},
		{"[::1]:8080", "[::1]:8080"},
		{"[::ffff:127.0.0.1]:80", "127.0.0.1:80"},
		{"127.0.0.2:80", ""},
		{"10.0.2.2:22", ""},
		{"172.17.0.2:80", ""},
		{"0.0.0.0:80", ""},
		{"[::]:80", ""},
		{"192.0.2.1:443", ""},
	}
	for _, tt := range tests {
		got, err := Allowed(netip.MustParseAddrPort(tt.target))
		if tt.want == "" {
			if !errors.Is(err, ErrNotLoopback) {
				t.Errorf("Allowed(%s) = %v, %v; want ErrNotLoopback", tt.target, got, err)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("Allowed(%s) = %v, %v; want %s", tt.target, got, err, tt.want)
		}
	}
}

// FuzzHeader: whatever ReadHeader accepts encodes back to a header that
// reads the same.
func FuzzHeader(f *testing.F) {
	for _, s := range []string{"\x01E\x00", "\x01T\x0e127.0.0.1:8080", "\x01T\x08[::1]:80", "\x01T\x10[::ffff:1.2.3.4]:1", "\x02E\x00", "GET /"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ReadHeader(bytes.NewReader(b))
		if err != nil {
			return
		}
		enc, err := h.MarshalBinary()
		if err != nil {
			t.Fatalf("ReadHeader(%q) = %+v, which MarshalBinary refuses: %v", b, h, err)
		}
		if len(enc) > 3+maxTarget {
			t.Fatalf("header of %d bytes", len(enc))
		}
		h2, err := ReadHeader(bytes.NewReader(enc))
		if err != nil || h2 != h {
			t.Fatalf("round trip of %+v: %+v, %v", h, h2, err)
		}
	})
}
