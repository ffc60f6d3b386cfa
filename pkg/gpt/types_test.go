package gpt

import "testing"

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
