package launch

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hardenvm/hardenvm/pkg/vm"
)

func TestPlan(t *testing.T) {
	image := Options{Dir: "out/minimal", Accel: "auto", DataSize: "64G"}
	kernel := Options{Kernel: "vmlinuz", Accel: "tcg", DataSize: "64G"}
	with := func(o Options, edit func(*Options)) Options { edit(&o); return o }
	tests := []struct {
		name    string
		o       Options
		network *vm.Net
		err     string
	}{
		{name: "image: nat by default", o: image, network: &vm.Net{NAT: true}},
		{name: "kernel: no network by default", o: kernel},
		{name: "kernel with forwards: restricted by default", o: with(kernel, func(o *Options) { o.Forwards = []string{"8080:80", "2222:22"} }),
			network: &vm.Net{HostForwards: []vm.HostForward{{HostPort: 8080, GuestPort: 80}, {HostPort: 2222, GuestPort: 22}}}},
		{name: "image restricted", o: with(image, func(o *Options) { o.Network = "restricted" }), network: &vm.Net{}},
		{name: "image without network", o: with(image, func(o *Options) { o.Network = "none" })},
		{name: "bad accelerator", o: with(image, func(o *Options) { o.Accel = "hvf" }),
			err: `accelerator "hvf": want auto, kvm or tcg`},
		{name: "neither image nor kernel", o: with(image, func(o *Options) { o.Dir = "" }),
			err: "run: give an image directory or --kernel (not both); see 'hardenvm run --help'"},
		{name: "both image and kernel", o: with(image, func(o *Options) { o.Kernel = "vmlinuz" }),
			err: "run: give an image directory or --kernel (not both); see 'hardenvm run --help'"},
		{name: "share without image", o: with(kernel, func(o *Options) { o.Shares = []string{"/src"} }),
			err: "run: --share needs an image directory (its guest mounts the shares)"},
		{name: "bad data size", o: with(image, func(o *Options) { o.DataSize = "lots" }),
			err: `run: --data-size "lots": want a positive size like 64G`},
		{name: "forward without network", o: with(image, func(o *Options) { o.Network, o.Forwards = "none", []string{"8080:80"} }),
			err: "run: --forward needs a network; drop --network none"},
		{name: "unknown network", o: with(image, func(o *Options) { o.Network = "bridged" }),
			err: `run: --network "bridged": want nat, restricted or none`},
		{name: "bad forward", o: with(image, func(o *Options) { o.Forwards = []string{"8080"} }),
			err: `run: --forward "8080": want HOST:GUEST port numbers`},
		{name: "image from qcow2", o: with(image, func(o *Options) { o.DiskFormat = "qcow2" }), network: &vm.Net{NAT: true}},
		{name: "image from vhdx", o: with(image, func(o *Options) { o.DiskFormat = "vhdx" }), network: &vm.Net{NAT: true}},
		{name: "kernel with the default disk format", o: with(kernel, func(o *Options) { o.DiskFormat = "raw" })},
		{name: "unknown disk format", o: with(image, func(o *Options) { o.DiskFormat = "vmdk" }),
			err: `run: --disk-format: disk format "vmdk" is not one of [raw qcow2 vhdx]`},
		{name: "disk format without image", o: with(kernel, func(o *Options) { o.DiskFormat = "qcow2" }),
			err: "run: --disk-format needs an image directory"},
		{name: "bad expect", o: with(image, func(o *Options) { o.Expect = "(" }),
			err: "run: --expect: error parsing regexp: missing closing ): `(`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.o.plan()
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("plan() error = %v, want %s", err, tt.err)
				}
				if err := tt.o.Check(); err == nil {
					t.Errorf("Check() = nil, want the error of plan()")
				}
				return
			}
			if err != nil {
				t.Fatalf("plan() = %v", err)
			}
			if d := cmp.Diff(tt.network, p.network); d != "" {
				t.Errorf("network: diff (-want +got)\n%s", d)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"64G", 64 << 30, true},
		{"512M", 512 << 20, true},
		{"1T", 1 << 40, true},
		{"4K", 4 << 10, true},
		{"1000", 1000, true},
		{"G", 0, false},
		{"0", 0, false},
		{"-1G", 0, false},
		{"1.5G", 0, false},
		{"lots", 0, false},
		{"", 0, false},
		{"4194304T", 1 << 62, true},
		{"4194305T", 0, false}, // over 2^62 bytes
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
