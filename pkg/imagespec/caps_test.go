package imagespec

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hardenvm/hardenvm/internal/testenv"
	"golang.org/x/sys/unix"
)

func TestParseCaps(t *testing.T) {
	tests := []struct {
		in      string
		p, i    uint64
		eff     bool
		wantErr bool
	}{
		{"cap_net_raw=ep", 1 << 13, 0, true, false},
		{"cap_net_bind_service+p", 1 << 10, 0, false, false},
		{"CAP_CHOWN,cap_fowner=pie", 1<<0 | 1<<3, 1<<0 | 1<<3, true, false},
		{"cap_sys_admin,cap_bpf=p cap_bpf-p", 1 << 21, 0, false, false},
		{"cap_setuid=p+e", 1 << 7, 0, true, false},
		{"all=p", 1<<41 - 1, 0, false, false},
		{"cap_net_raw", 0, 0, false, true},
		{"cap_net_raw=x", 0, 0, false, true},
		{"", 0, 0, false, true},
		{"cap_nope=p", 0, 0, false, true},
		{"cap_chown=ep cap_kill=p", 0, 0, false, true},
	}
	for _, tt := range tests {
		c, err := ParseCaps(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseCaps(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && (c.Permitted != tt.p || c.Inheritable != tt.i || c.Effective != tt.eff) {
			t.Errorf("ParseCaps(%q) = p %#x i %#x e %v, want p %#x i %#x e %v", tt.in, c.Permitted, c.Inheritable, c.Effective, tt.p, tt.i, tt.eff)
		}
	}
}

// TestCapsXattrMatchesSetcap checks XattrValue byte for byte against what
// setcap(8) itself writes.
func TestCapsXattrMatchesSetcap(t *testing.T) {
	setcap := testenv.Tool(t, "setcap", "libcap2-bin")
	testenv.Root(t)
	for _, text := range []string{"cap_net_raw=ep", "cap_net_bind_service,cap_sys_admin+p", "cap_chown,cap_bpf,cap_checkpoint_restore=eip", "cap_kill=i"} {
		f := filepath.Join(t.TempDir(), "prog")
		if err := os.WriteFile(f, []byte("x"), 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(setcap, text, f).CombinedOutput(); err != nil {
			t.Fatalf("setcap %s: %v\n%s", text, err, out)
		}
		want := make([]byte, 64)
		n, err := unix.Getxattr(f, "security.capability", want)
		if err != nil {
			t.Fatalf("reading security.capability: %v", err)
		}
		c, err := ParseCaps(text)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.XattrValue(); hex.EncodeToString(got) != hex.EncodeToString(want[:n]) {
			t.Errorf("XattrValue(%q) = %x, setcap wrote %x", text, got, want[:n])
		}
	}
}
