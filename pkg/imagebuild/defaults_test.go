package imagebuild

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hardenvm/hardenvm/pkg/arch"
)

func TestFillDefaults(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Dir(exe)
	tests := []struct {
		name     string
		in, want Options
	}{
		{"all defaults", Options{Spec: "images/minimal.yml"},
			Options{Spec: "images/minimal.yml", Out: "out/minimal"}},
		{"a spec without extension", Options{Spec: "/tmp/specs/desk"},
			Options{Spec: "/tmp/specs/desk", Out: "out/desk"}},
		{"set fields stay", Options{Spec: "a.yml", Out: "o", Init: "i", Agent: "g"},
			Options{Spec: "a.yml", Out: "o", Init: "i", Agent: "g"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in
			got.FillDefaults()
			if d := cmp.Diff(tt.want, got, cmp.AllowUnexported(Options{})); d != "" {
				t.Errorf("FillDefaults: diff (-want +got)\n%s", d)
			}
		})
	}
	for a, want := range map[arch.Arch]string{arch.AMD64: filepath.Join(bin, "hardenvm-init"), arch.ARM64: filepath.Join(bin, "arm64", "hardenvm-init")} {
		if got := GuestBinary("hardenvm-init", a); got != want {
			t.Errorf("GuestBinary(hardenvm-init, %s) = %s, want %s", a.Debian, got, want)
		}
	}
}
