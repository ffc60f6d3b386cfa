package arch

import "testing"

func TestLookup(t *testing.T) {
	tests := []struct {
		name, in, want string
		boot, stub     string
		wantErr        bool
	}{
		{name: "default", in: "", want: "amd64", boot: "EFI/BOOT/BOOTX64.EFI", stub: "usr/lib/systemd/boot/efi/linuxx64.efi.stub"},
		{name: "amd64", in: "amd64", want: "amd64", boot: "EFI/BOOT/BOOTX64.EFI", stub: "usr/lib/systemd/boot/efi/linuxx64.efi.stub"},
		{name: "arm64", in: "arm64", want: "arm64", boot: "EFI/BOOT/BOOTAA64.EFI", stub: "usr/lib/systemd/boot/efi/linuxaa64.efi.stub"},
		{name: "unsupported", in: "riscv64", wantErr: true},
		{name: "go name is not debian's", in: "x86_64", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Lookup(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Lookup(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if a.Debian != tt.want || a.BootPath() != tt.boot || a.StubPath() != tt.stub {
				t.Errorf("Lookup(%q) = %s %s %s, want %s %s %s", tt.in, a.Debian, a.BootPath(), a.StubPath(), tt.want, tt.boot, tt.stub)
			}
		})
	}
}

func TestMachineName(t *testing.T) {
	for m, want := range map[uint16]string{0x8664: "amd64", 0xaa64: "arm64", 0x14c: "machine 0x014c"} {
		if got := MachineName(m); got != want {
			t.Errorf("MachineName(%#x) = %q, want %q", m, got, want)
		}
	}
}
