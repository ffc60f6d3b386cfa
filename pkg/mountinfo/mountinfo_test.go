package mountinfo

import "testing"

func TestUnescape(t *testing.T) {
	tests := []struct{ in, want string }{
		{`/run/a\040b`, "/run/a b"},
		{`/x\134y`, `/x\y`},
		{`/plain`, "/plain"},
		{`/trail\04`, `/trail\04`},
		{`/tab\011end`, "/tab\tend"},
		{`/not\09x`, `/not\09x`},
	}
	for _, tt := range tests {
		if got := Unescape(tt.in); got != tt.want {
			t.Errorf("Unescape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
