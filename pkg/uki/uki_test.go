package uki

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/internal/testkernel"
)

func inputs(t *testing.T) Input {
	t.Helper()
	stub, err := os.ReadFile(testkernel.Stub(t))
	if err != nil {
		t.Fatal(err)
	}
	kernel, err := os.ReadFile(testkernel.Vmlinuz(t))
	if err != nil {
		t.Fatal(err)
	}
	return Input{
		Stub: stub, Linux: kernel,
		Initrd:  bytes.Repeat([]byte("initrd"), 1000),
		Cmdline: "console=ttyS0 roothash=0123abcd",
		OSRel:   "ID=hardenvm\nVERSION_ID=1\n",
	}
}

func TestBuild(t *testing.T) {
	in := inputs(t)
	img, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Build(in)
	if !bytes.Equal(img, again) {
		t.Fatal("same inputs gave different UKIs")
	}
	secs, err := Sections(img)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range secs {
		names = append(names, s.Name)
	}
	// The added sections follow the stub's own, in ukify's order.
	tail := names[len(names)-5:]
	if diff := cmp.Diff([]string{".osrel", ".cmdline", ".uname", ".initrd", ".linux"}, tail); diff != "" {
		t.Errorf("added sections (-want +got):\n%s", diff)
	}
	for name, want := range map[string]string{".cmdline": in.Cmdline, ".osrel": in.OSRel, ".uname": "6.12.117+deb13-cloud-amd64", ".initrd": string(in.Initrd), ".linux": string(in.Linux)} {
		got, err := Section(img, name)
		// .linux reserves more memory than the file holds: compare the
		// file part, the rest is zero padding.
		if err == nil && len(got) > len(want) && !bytes.ContainsFunc(got[len(want):], func(r rune) bool { return r != 0 }) {
			got = got[:len(want)]
		}
		if err != nil || string(got) != want {
			t.Errorf("Section(%s) = %d bytes (%v), want %d bytes", name, len(got), err, len(want))
		}
	}
	sbat, _ := Section(img, ".sbat")
	if !strings.HasPrefix(string(sbat), "sbat,1,") || !strings.HasSuffix(string(sbat), DefaultSBAT) || !strings.Contains(string(sbat), "systemd") {
		t.Errorf(".sbat = %q: want the stub's entries then the UKI line", sbat)
	}
	for i := 1; i < len(secs); i++ {
		prev := secs[i-1]
		if secs[i].VirtualAddress < prev.VirtualAddress+prev.VirtualSize {
			t.Errorf("section %s at %#x overlaps %s (%#x+%#x)", secs[i].Name, secs[i].VirtualAddress, prev.Name, prev.VirtualAddress, prev.VirtualSize)
		}
		if i >= len(secs)-5 && secs[i].VirtualAddress%0x1000 != 0 {
			t.Errorf("added section %s at %#x is not page aligned", secs[i].Name, secs[i].VirtualAddress)
		}
	}
	linux := secs[len(secs)-1]
	if linux.VirtualSize <= uint32(len(in.Linux)) {
		t.Errorf(".linux virtual size %d does not reserve the kernel's SizeOfImage (file %d)", linux.VirtualSize, len(in.Linux))
	}

	// An independent PE reader sees the same section table.
	objdump := testenv.Tool(t, "objdump", "binutils")
	f := t.TempDir() + "/uki.efi"
	os.WriteFile(f, img, 0o644)
	out, err := exec.Command(objdump, "-h", f).CombinedOutput()
	if err != nil {
		t.Fatalf("objdump -h: %v\n%s", err, out)
	}
	for _, name := range names {
		if !strings.Contains(string(out), " "+name+" ") {
			t.Errorf("objdump does not list section %s:\n%s", name, out)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	good := inputs(t)
	tests := []struct {
		name string
		mod  func(in *Input)
		want string
	}{
		{"stub not PE", func(in *Input) { in.Stub = []byte("hello") }, "stub: not a PE image"},
		{"kernel not PE", func(in *Input) { in.Linux = bytes.Repeat([]byte{1}, 4096) }, "kernel: not a PE image"},
		{"empty cmdline", func(in *Input) { in.Cmdline = "" }, "section .cmdline is empty"},
		{"sbat too big", func(in *Input) { in.SBAT = strings.Repeat("x,1,x,x,1,x\n", 100) }, "does not fit"},
		{"stub of another machine", func(in *Input) {
			s := append([]byte(nil), in.Stub...)
			p, _ := parse(s)
			le.PutUint16(s[p.opt-20:], 0xaa64)
			in.Stub = s
		}, "the kernel is for PE machine 0x8664, the stub for 0xaa64"},
		{"signed stub", func(in *Input) {
			s := append([]byte(nil), in.Stub...)
			p, _ := parse(s)
			le.PutUint32(s[p.opt+148:], 16)
			in.Stub = s
		}, "already signed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := good
			tt.mod(&in)
			_, err := Build(in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Build error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestMachine(t *testing.T) {
	in := inputs(t)
	for name, b := range map[string][]byte{"stub": in.Stub, "kernel": in.Linux} {
		if m, err := Machine(b); err != nil || m != 0x8664 {
			t.Errorf("Machine(%s) = %#x, %v; want 0x8664", name, m, err)
		}
	}
	if _, err := Machine([]byte("MZ")); err == nil {
		t.Error("Machine of a truncated image succeeded")
	}
}

func TestKernelRelease(t *testing.T) {
	k, _ := os.ReadFile(testkernel.Vmlinuz(t))
	rel, err := KernelRelease(k)
	want, _ := os.ReadFile(testkernel.Dir(t) + "/release")
	if err != nil || rel != strings.TrimSpace(string(want)) {
		t.Errorf("KernelRelease = %q, %v; want %q", rel, err, want)
	}
	if _, err := KernelRelease([]byte("short")); err == nil {
		t.Error("KernelRelease of garbage succeeded")
	}
}

func FuzzSections(f *testing.F) {
	if stub, err := os.ReadFile("/usr/lib/systemd/boot/efi/linuxx64.efi.stub"); err == nil {
		f.Add(stub)
	}
	f.Add([]byte("MZ"))
	// Issue 13.7: a few sections declaring 4 GiB of virtual size each.
	f.Add(craftPE(0xFFFFFFFF, 0xFFFFFFFF, 3))
	f.Add(craftPE(0x2000, 0x10000, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		secs, err := Sections(b)
		if err != nil {
			return
		}
		for _, s := range secs {
			if _, err := Section(b, s.Name); err != nil {
				t.Fatalf("Sections listed %s but Section fails: %v", s.Name, err)
			}
		}
	})
}

// craftPE is a minimal PE32+ image with nsec sections of 512 raw bytes
// each declaring virtual size vsize, in an image of SizeOfImage soi.
func craftPE(vsize, soi uint32, nsec int) []byte {
	const peOff, optSize = 0x40, 240
	secTable := peOff + 24 + optSize
	b := make([]byte, 0x400+nsec*512)
	copy(b, "MZ")
	le.PutUint32(b[0x3c:], peOff)
	copy(b[peOff:], "PE\x00\x00")
	le.PutUint16(b[peOff+4:], 0x8664)
	le.PutUint16(b[peOff+6:], uint16(nsec))
	le.PutUint16(b[peOff+20:], optSize)
	opt := peOff + 24
	le.PutUint16(b[opt:], 0x20b)
	le.PutUint32(b[opt+32:], 0x1000) // SectionAlignment
	le.PutUint32(b[opt+36:], 0x200)  // FileAlignment
	le.PutUint32(b[opt+56:], soi)    // SizeOfImage
	le.PutUint32(b[opt+60:], 0x400)  // SizeOfHeaders
	for i := range nsec {
		h := b[secTable+i*40:]
		copy(h, fmt.Sprintf(".s%d", i))
		le.PutUint32(h[8:], vsize)
		le.PutUint32(h[12:], uint32(0x1000*(i+1)))
		le.PutUint32(h[16:], 512)
		le.PutUint32(h[20:], uint32(0x400+i*512))
	}
	return b
}

// TestSectionsBounded: virtual sizes past SizeOfImage or far past the
// file are refused at once instead of hashing gigabytes of zero fill.
func TestSectionsBounded(t *testing.T) {
	tests := []struct {
		name      string
		img       []byte
		wantError string
	}{
		{"4 GiB sections", craftPE(0xFFFFFFFF, 0xFFFFFFFF, 11), "lies outside the image's SizeOfImage"},
		{"outside SizeOfImage", craftPE(0x2000, 0x2000, 2), "lies outside the image's SizeOfImage"},
		{"huge SizeOfImage, fill past the file", craftPE(0x8000000, 0xF0000000, 11), "exceed their data"},
		{"small fill", craftPE(0x2000, 0x10000, 2), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			secs, err := Sections(tt.img)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("Sections took %v", took)
			}
			if tt.wantError == "" {
				if err != nil || len(secs) != 2 || secs[1].VirtualSize != 0x2000 {
					t.Fatalf("Sections = %+v, %v; want two sections of 0x2000", secs, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantError) {
				t.Errorf("Sections = %v, want an error containing %q", err, tt.wantError)
			}
		})
	}
}
