package gpt

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/internal/testenv"
)

func TestRootTypesOf(t *testing.T) {
	tests := []struct {
		arch              string
		root, verity, sig string
		wantErr           bool
	}{
		{arch: "amd64", root: "4f68bce3-e8cd-4db1-96e7-fbcaf984b709", verity: "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5", sig: "41092b05-9fc8-4523-994f-2def0408b176"},
		{arch: "arm64", root: "b921b045-1df0-41c3-af44-4c6f280d3fae", verity: "df3300ce-d69f-4c92-978c-9bfb0f38d820", sig: "6db69de6-29f4-4758-a7a5-962190f00ce3"},
		{arch: "riscv64", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.arch, func(t *testing.T) {
			rt, err := RootTypesOf(tt.arch)
			if (err != nil) != tt.wantErr {
				t.Fatalf("RootTypesOf(%q) error = %v, want error %v", tt.arch, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if rt.Root.String() != tt.root || rt.Verity.String() != tt.verity || rt.VeritySig.String() != tt.sig {
				t.Errorf("RootTypesOf(%q) = %v, want %s %s %s", tt.arch, rt, tt.root, tt.verity, tt.sig)
			}
			for role, g := range map[string]GUID{"root": rt.Root, "root-verity": rt.Verity, "root-verity-sig": rt.VeritySig} {
				if r, a, ok := RootRole(g); !ok || r != role || a != tt.arch {
					t.Errorf("RootRole(%s) = %q %q %v, want %q %q", g, r, a, ok, role, tt.arch)
				}
			}
		})
	}
	if _, _, ok := RootRole(TypeESP); ok {
		t.Errorf("RootRole(ESP) says it is a root type")
	}
}

// TestRootTypesSgdisk: sgdisk, an independent GPT tool, names each
// architecture's root types as the Discoverable Partitions Specification
// does.
func TestRootTypesSgdisk(t *testing.T) {
	sgdisk := testenv.Tool(t, "sgdisk", "gdisk")
	want := map[string][2]string{
		"amd64": {"Linux x86-64 root (/)", "Linux x86-64 root verity"},
		"arm64": {"Linux ARM64 root (/)", "Linux ARM64 root verity"},
	}
	for arch, names := range want {
		rt, err := RootTypesOf(arch)
		if err != nil {
			t.Fatal(err)
		}
		tb := &Table{Sectors: 4 * mib, Partitions: []Partition{
			{Type: rt.Root, GUID: NewGUID([]byte("r")), FirstLBA: mib, LastLBA: 2*mib - 1, Name: "root"},
			{Type: rt.Verity, GUID: NewGUID([]byte("v")), FirstLBA: 2 * mib, LastLBA: 3*mib - 1, Name: "verity"},
		}}
		d := make(mem, tb.Sectors*SectorSize)
		if err := tb.Write(d); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "disk.raw")
		if err := os.WriteFile(p, d, 0o644); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			out, err := exec.Command(sgdisk, "-i", fmt.Sprint(i+1), p).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "("+names[i]+")") {
				t.Errorf("%s: sgdisk -i %d: %v: want %q in\n%s", arch, i+1, err, names[i], out)
			}
		}
	}
}
