package vm

import (
	"strings"
	"testing"
)

func TestQEMUArgs(t *testing.T) {
	base := Config{StateDir: "/s", Kernel: "/k", MemoryMiB: 512, CPUs: 1}
	tests := []struct {
		name    string
		mod     func(c *Config)
		accel   Accel
		want    []string // substrings of the joined command line
		notWant []string
	}{
		{"direct tcg", func(c *Config) { c.Initrd = "/i"; c.Append = "console=ttyS0" }, AccelTCG,
			[]string{"-machine q35 ", "-accel tcg,thread=single ", "-kernel /k -initrd /i -append console=ttyS0", "-no-reboot", "-cpu max", "-serial chardev:con0"},
			[]string{"smm=on", "pflash", "tpm", "-netdev"}},
		{"kvm", nil, AccelKVM, []string{"-accel kvm ", "-cpu host"}, []string{"thread=single"}},
		{"secure boot firmware", func(c *Config) { c.FirmwareCode = "/code.fd"; c.FirmwareVars = "/v,ars.fd" }, AccelTCG,
			[]string{"q35,smm=on", "property=secure,value=on", "unit=0,readonly=on,file=/code.fd", "unit=1,file=/v,,ars.fd"}, nil},
		{"tpm", func(c *Config) { c.TPM = true }, AccelTCG,
			[]string{"socket,id=chrtpm,path=/s/swtpm.sock", "-tpmdev emulator,id=tpm0,chardev=chrtpm", "-device tpm-tis,tpmdev=tpm0"}, nil},
		{"disks", func(c *Config) { c.Disks = []Disk{{Path: "/d.raw"}, {Path: "/e.raw", ReadOnly: true, Snapshot: true}} }, AccelTCG,
			[]string{"id=disk0,format=raw,file=/d.raw -device virtio-blk-pci,drive=disk0", "file=/e.raw,readonly=on,snapshot=on"}, nil},
		{"disk formats", func(c *Config) {
			c.Disks = []Disk{{Path: "/d.qcow2", Format: "qcow2", ReadOnly: true}, {Path: "/e.vhdx", Format: "vhdx"}}
		}, AccelTCG,
			[]string{"id=disk0,format=qcow2,file=/d.qcow2,readonly=on", "id=disk1,format=vhdx,file=/e.vhdx "}, []string{"format=raw"}},
		{"channels", func(c *Config) { c.Channels = []string{"org.hardenvm.agent"} }, AccelTCG,
			[]string{"virtio-serial-pci", "path=/s/chan-org.hardenvm.agent.sock,server=on,wait=off", "name=org.hardenvm.agent"}, nil},
		{"net restricted", func(c *Config) {
			c.Net = &Net{HostForwards: []HostForward{{2376, 2376}}, GuestForwards: []GuestForward{{"10.0.2.100:80", "127.0.0.1:8080"}}}
		}, AccelTCG,
			[]string{"user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:2376-:2376,guestfwd=tcp:10.0.2.100:80-tcp:127.0.0.1:8080"}, nil},
		{"shares", func(c *Config) {
			c.Shares = []Share{{HostDir: "/home/a/src"}, {HostDir: "/tmp/x"}}
		}, AccelTCG,
			[]string{"-object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem",
				"-chardev socket,id=vfs0,path=/s/virtiofs-0.sock -device vhost-user-fs-pci,chardev=vfs0,tag=hvshare0",
				"-chardev socket,id=vfs1,path=/s/virtiofs-1.sock -device vhost-user-fs-pci,chardev=vfs1,tag=hvshare1",
				"-fw_cfg name=opt/org.hardenvm/shares,file=/s/shares.json"}, nil},
		{"no shares, no shared memory", nil, AccelTCG, nil, []string{"memory-backend", "vhost-user-fs", "-fw_cfg"}},
		{"reboot allowed", func(c *Config) { c.Reboot = true }, AccelTCG, nil, []string{"-no-reboot"}},
		{"arm64 secure boot", func(c *Config) {
			c.Arch, c.FirmwareCode, c.FirmwareVars, c.TPM = "arm64", "/AAVMF_CODE.fd", "/vars.fd", true
			c.Disks = []Disk{{Path: "/d.raw"}}
			c.Channels = []string{"org.hardenvm.agent"}
		}, AccelTCG,
			[]string{"-machine virt ", "-accel tcg,thread=single ", "-cpu cortex-a72 ", "unit=0,readonly=on,file=/AAVMF_CODE.fd", "unit=1,file=/vars.fd",
				"-device tpm-tis-device,tpmdev=tpm0", "virtio-blk-pci,drive=disk0", "virtio-serial-pci", "-serial chardev:con0", "-no-reboot"},
			[]string{"q35", "smm", "property=secure", "ICH9", "-device tpm-tis,"}},
		{"arm64 kvm", func(c *Config) { c.Arch = "arm64" }, AccelKVM, []string{"-accel kvm ", "-cpu host"}, []string{"thread=single"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			if tt.mod != nil {
				tt.mod(&c)
			}
			got := strings.Join(qemuArgs(&c, tt.accel), " ")
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("args lack %q:\n%s", w, got)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("args contain %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		want string
	}{
		{"no state", Config{Kernel: "/k"}, "StateDir"},
		{"nothing to boot", Config{StateDir: "/s"}, "nothing to boot"},
		{"initrd without kernel", Config{StateDir: "/s", Initrd: "/i", Disks: []Disk{{Path: "/d"}}}, "needs a kernel"},
		{"firmware without vars", Config{StateDir: "/s", Kernel: "/k", FirmwareCode: "/c"}, "variable store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.defaults()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("defaults() = %v, want error containing %q", err, tt.want)
			}
		})
	}
	if _, err := ParseAccel("xen"); err == nil {
		t.Error("ParseAccel(xen) succeeded")
	}
}
