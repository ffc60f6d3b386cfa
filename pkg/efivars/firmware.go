package efivars

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/pkg/gpt"
)

// Firmware is a UEFI firmware build hardenvm boots images with: its code
// image, the empty variable store its package ships, and, for a package
// that ships that store blank (all zeros, formatted by the firmware on its
// first start), the layout the firmware gives it.
type Firmware struct {
	Arch    string // Debian architecture
	Package string // the Debian package that ships it
	Code    string // firmware code, read-only flash
	Vars    string // empty variable store template
	// Blank is the layout the firmware formats a blank store to; nil
	// when the template is already formatted.
	Blank *Geometry
}

// Paths of Debian's firmware images (bookworm's ovmf and qemu-efi-aarch64).
const (
	OVMFCode = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
	// AAVMFCode is Secure Boot capable: the package's Secure Boot
	// descriptors (/usr/share/qemu/firmware/*aarch64-secure*.json) use
	// it (AAVMF_CODE.ms.fd and .snakeoil.fd are links to it).
	AAVMFCode = "/usr/share/AAVMF/AAVMF_CODE.fd"
	AAVMFVars = "/usr/share/AAVMF/AAVMF_VARS.fd"
)

// The firmware of each architecture.
var (
	OVMF  = Firmware{Arch: "amd64", Package: "ovmf", Code: OVMFCode, Vars: DefaultTemplate}
	AAVMF = Firmware{Arch: "arm64", Package: "qemu-efi-aarch64", Code: AAVMFCode, Vars: AAVMFVars, Blank: &ArmVirtQemu}
)

// FirmwareOf returns the firmware for a Debian architecture.
func FirmwareOf(arch string) (Firmware, error) {
	for _, f := range []Firmware{OVMF, AAVMF} {
		if f.Arch == arch {
			return f, nil
		}
	}
	return Firmware{}, fmt.Errorf("efivars: no UEFI firmware known for architecture %q", arch)
}

// Geometry is the layout of an edk2 variable flash: one firmware volume
// holding the variable store, the fault-tolerant-write working block and
// its spare area, at the start of a flash device of FlashSize bytes.
type Geometry struct {
	FlashSize  int    // bytes of the flash device (the file QEMU maps)
	BlockSize  int    // erase block size
	StoreSize  int    // the variable store region, volume header included
	FTWSize    int    // the FTW working block; the spare area is as large
	Attributes uint32 // EFI_FVB_ATTRIBUTES_2 of the volume header
}

// ArmVirtQemu is how edk2's ArmVirtQemu (Debian's AAVMF) formats a blank
// variable flash on its first start: QEMU virt's 64 MiB flash of 256 KiB
// blocks, a volume of 768 KiB (store, FTW working block, spare area, 256
// KiB each) whose block map covers the whole device. Read from the flash
// the firmware wrote (TestFormatBlankMatchesFirmware holds its headers).
var ArmVirtQemu = Geometry{FlashSize: 64 << 20, BlockSize: 256 << 10, StoreSize: 256 << 10, FTWSize: 256 << 10, Attributes: 0x00000e36}

// FormatBlank returns a copy of blank (a flash of g.FlashSize bytes, all
// zeros as Debian ships AAVMF_VARS.fd) with an empty variable store laid
// out as the firmware would format it: the firmware volume header, an
// authenticated variable store (formatted, healthy), an FTW working block
// with an empty write queue, every other byte of the volume erased
// (0xFF); bytes past the volume stay as they are.
func FormatBlank(blank []byte, g Geometry) ([]byte, error) {
	fvLen := g.StoreSize + 2*g.FTWSize
	switch {
	case len(blank) != g.FlashSize:
		return nil, fmt.Errorf("blank variable flash of %d bytes, want %d", len(blank), g.FlashSize)
	case g.BlockSize <= 0 || g.FlashSize%g.BlockSize != 0 || g.StoreSize%g.BlockSize != 0 || g.FTWSize%g.BlockSize != 0 || fvLen > g.FlashSize:
		return nil, fmt.Errorf("BUG: variable flash geometry %+v is not in whole blocks", g)
	case firstNot(blank, 0) >= 0:
		return nil, fmt.Errorf("%w: the flash is neither formatted nor blank (all zeros)", ErrNotVariableStore)
	}
	le := binary.LittleEndian
	out := bytes.Clone(blank)
	for i := range fvLen {
		out[i] = erased
	}
	// EFI_FIRMWARE_VOLUME_HEADER with one block map entry and the
	// terminating zero entry.
	h := out[:fvMinHeaderLength]
	clear(h)
	gpt.AppendGUID(h[0x10:0x10], SystemNVDataFV)
	le.PutUint64(h[0x20:], uint64(fvLen))
	le.PutUint32(h[0x28:], fvSignature)
	le.PutUint32(h[0x2c:], g.Attributes)
	le.PutUint16(h[0x30:], fvMinHeaderLength)
	h[0x37] = 2 // revision
	le.PutUint32(h[0x38:], uint32(g.FlashSize/g.BlockSize))
	le.PutUint32(h[0x3c:], uint32(g.BlockSize))
	var sum uint16
	for i := 0; i < len(h); i += 2 {
		sum += le.Uint16(h[i:])
	}
	le.PutUint16(h[0x32:], -sum)
	// VARIABLE_STORE_HEADER.
	s := out[fvMinHeaderLength : fvMinHeaderLength+storeHeaderSize]
	clear(s)
	gpt.AppendGUID(s[:0], AuthenticatedVariable)
	le.PutUint32(s[16:], uint32(g.StoreSize-fvMinHeaderLength))
	s[20], s[21] = storeFormatted, storeHealthy
	// EFI_FAULT_TOLERANT_WORKING_BLOCK_HEADER: CRC over the header with
	// the CRC and state fields erased, then the state WorkingBlockValid.
	w := out[g.StoreSize : g.StoreSize+ftwHeaderSize]
	gpt.AppendGUID(w[:0], FTWWorkingBlock)
	le.PutUint64(w[24:], uint64(g.FTWSize-ftwHeaderSize))
	le.PutUint32(w[16:], crc32.ChecksumIEEE(w))
	w[20] = 0xfe
	return out, nil
}

// EnrollFile is EnrollFile for this firmware: a blank template is
// formatted the way the firmware would first (FormatBlank).
func (f Firmware) EnrollFile(template, out string, e Enrollment) error {
	return enrollFile(template, out, e, f.Blank)
}

func enrollFile(template, out string, e Enrollment, blank *Geometry) error {
	b, err := os.ReadFile(template)
	if err != nil {
		return fmt.Errorf("efivars: reading template: %w", err)
	}
	im, err := Parse(b)
	if err != nil && blank != nil {
		f, ferr := FormatBlank(b, *blank)
		if ferr != nil {
			return fmt.Errorf("efivars: template %s: %w", template, ferr)
		}
		im, err = Parse(f)
	}
	if err != nil {
		return fmt.Errorf("efivars: template %s: %w", template, err)
	}
	img, err := im.Enroll(e)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(out, img, 0o644); err != nil {
		return fmt.Errorf("efivars: writing %s: %w", out, err)
	}
	return nil
}

// firstNot is the index of the first byte of b that is not c, or -1.
func firstNot(b []byte, c byte) int {
	for i, x := range b {
		if x != c {
			return i
		}
	}
	return -1
}
