package imagespec

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestARM64SpecsFollowAMD64 keeps images/*-arm64.yml in step with the
// amd64 specs they are made from: below their own header comment, each is
// its amd64 spec with only the architecture's differences (the name, the
// Debian architecture, the kernel package, the guest binaries' directory
// and the TPM module, built in on amd64 but a module on QEMU virt).
func TestARM64SpecsFollowAMD64(t *testing.T) {
	for _, base := range []string{"minimal", "desktop"} {
		amd64 := body(t, "../../images/"+base+".yml")
		arm64 := body(t, "../../images/"+base+"-arm64.yml")
		want := strings.NewReplacer(
			"name: "+base+"\n", "name: "+base+"-arm64\n",
			"arch: amd64", "arch: arm64",
			"linux-image-cloud-amd64", "linux-image-cloud-arm64",
			"source: bin/", "source: bin/arm64/",
		).Replace(amd64)
		got := withoutTPMModule(arm64)
		if got != want {
			t.Errorf("images/%s-arm64.yml has drifted from images/%s.yml: apply the same change to both (only the name, arch, kernel package, bin/arm64/ and the tpm_tis module may differ)\n%s", base, base, firstDiff(got, want))
		}
	}
}

// body is a spec file without its leading comment lines.
func body(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for strings.HasPrefix(s, "#") {
		_, s, _ = strings.Cut(s, "\n")
	}
	return s
}

// withoutTPMModule drops the tpm_tis module line and its comment.
func withoutTPMModule(s string) string {
	var out []string
	lines := strings.Split(s, "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) == "- tpm_tis" {
			if n := len(out); n > 0 && strings.Contains(out[n-1], "# The TPM on QEMU virt") {
				out = out[:n-1]
			}
			continue
		}
		out = append(out, lines[i])
	}
	return strings.Join(out, "\n")
}

// firstDiff shows the first line where a and b differ.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d below the header:\n  arm64: %s\n  want:  %s", i+1, x, y)
		}
	}
	return ""
}
