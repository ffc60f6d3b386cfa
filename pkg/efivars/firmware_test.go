package efivars

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// The headers AAVMF (Debian bookworm's qemu-efi-aarch64 2022.11-6+deb12u2)
// wrote into a blank AAVMF_VARS.fd on its first start under
// qemu-system-aarch64 -machine virt: the firmware volume and variable
// store headers at 0, the FTW working block header at 256 KiB.
const (
	aavmfFormattedHeaders = "00000000000000000000000000000000" + "8d2bf1ff96768b4ca9852747075b4f50" +
		"00000c0000000000" + "5f465648" + "360e0000" + "4800" + "f8f8" + "0000" + "00" + "02" +
		"00010000" + "00000400" + "0000000000000000" +
		"782cf3aa7b949a43a1802e144ec37792" + "b8ff0300" + "5afe" + "0000" + "00000000"
	aavmfFormattedFTW = "2b29589e687c7d49a0ce6500fd9f1b95" + "5be7c686" + "feffffff" + "e0ff030000000000"
)

func TestFormatBlankMatchesFirmware(t *testing.T) {
	g := ArmVirtQemu
	f, err := FormatBlank(make([]byte, g.FlashSize), g)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := hex.DecodeString(aavmfFormattedHeaders)
	if got := f[:len(want)]; !bytes.Equal(got, want) {
		t.Errorf("volume and store headers:\n got %x\nwant %x", got, want)
	}
	wantFTW, _ := hex.DecodeString(aavmfFormattedFTW)
	if got := f[g.StoreSize : g.StoreSize+len(wantFTW)]; !bytes.Equal(got, wantFTW) {
		t.Errorf("FTW working block header:\n got %x\nwant %x", got, wantFTW)
	}
	fvLen := g.StoreSize + 2*g.FTWSize
	for _, r := range []struct {
		from, to int
		b        byte
	}{{len(want), g.StoreSize, 0xff}, {g.StoreSize + len(wantFTW), fvLen, 0xff}, {fvLen, g.FlashSize, 0}} {
		if i := firstNot(f[r.from:r.to], r.b); i >= 0 {
			t.Errorf("byte %#x is %#x, want %#x", r.from+i, f[r.from+i], r.b)
		}
	}
	im, err := Parse(f)
	if err != nil {
		t.Fatalf("Parse(FormatBlank) = %v", err)
	}
	if len(im.Records) != 0 || im.FTW == nil || im.FTW.Offset != g.StoreSize || im.FTW.Writes != 0 || im.Dirty {
		t.Errorf("Parse(FormatBlank) = %d records, FTW %+v, dirty %v; want an empty clean store with its FTW block at %#x", len(im.Records), im.FTW, im.Dirty, g.StoreSize)
	}
}

func TestFormatBlankRefuses(t *testing.T) {
	g := ArmVirtQemu
	notBlank := make([]byte, g.FlashSize)
	notBlank[g.FlashSize-1] = 1
	tests := []struct {
		name  string
		flash []byte
		g     Geometry
		isNVS bool
	}{
		{"wrong size", make([]byte, 1<<20), g, false},
		{"not blank", notBlank, g, true},
		{"bad geometry", make([]byte, g.FlashSize), Geometry{FlashSize: g.FlashSize, BlockSize: 3 << 10, StoreSize: 256 << 10, FTWSize: 256 << 10}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FormatBlank(tt.flash, tt.g)
			if err == nil {
				t.Fatal("FormatBlank succeeded")
			}
			if errors.Is(err, ErrNotVariableStore) != tt.isNVS {
				t.Errorf("FormatBlank error %v: ErrNotVariableStore %v, want %v", err, !tt.isNVS, tt.isNVS)
			}
		})
	}
}

func TestFirmwareOf(t *testing.T) {
	for arch, want := range map[string]string{"amd64": OVMFCode, "arm64": AAVMFCode} {
		f, err := FirmwareOf(arch)
		if err != nil || f.Code != want {
			t.Errorf("FirmwareOf(%q) = %+v, %v; want code %s", arch, f, err, want)
		}
	}
	if _, err := FirmwareOf("riscv64"); err == nil {
		t.Error("FirmwareOf(riscv64) succeeded")
	}
}
