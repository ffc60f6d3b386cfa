// Package uki assembles Unified Kernel Images: the systemd-boot EFI stub
// with the kernel, initrd, command line and metadata added as PE sections,
// so that one signed file carries everything the firmware hands control to.
//
// It supports PE32+ stubs and kernels of one machine type, x86-64
// (linuxx64.efi.stub, a bzImage) or AArch64 (linuxaa64.efi.stub, an
// uncompressed arm64 Image, a PE by its EFI stub), and adds the sections
// hardenvm needs: .osrel .cmdline .uname .initrd and .linux, in that order after the
// stub's own sections, the way systemd's ukify lays them out; the stub's
// .sbat section is rewritten in place with the stub's entries followed by
// the UKI's own. It refuses a stub that is already signed (a signature
// would be invalidated) or that has no room left for section headers.
// The output depends only on the inputs.
package uki

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// DefaultSBAT is the UKI generation line ukify adds by default.
const DefaultSBAT = "uki,1,UKI,uki,1,https://uapi-group.org/specifications/specs/unified_kernel_image/\n"

// Input holds the parts of a UKI.
type Input struct {
	Stub    []byte // systemd-boot's linux<x64|aa64>.efi.stub
	Linux   []byte // the kernel (an EFI-stub bzImage or arm64 Image), of the stub's machine
	Initrd  []byte
	Cmdline string
	OSRel   string // os-release contents
	Uname   string // kernel release; read from the kernel header when empty
	SBAT    string // SBAT lines appended to the stub's; DefaultSBAT when empty
}

// Section characteristics.
const (
	scnCntCode     = 0x00000020
	scnCntInitData = 0x00000040
	scnMemRead     = 0x40000000
)

// pe32 is a writable view of a PE32+ image's headers.
type pe32 struct {
	b          []byte
	machine    uint16 // COFF Machine: 0x8664 x86-64, 0xaa64 AArch64
	opt        int    // optional header offset
	secTable   int    // section table offset
	nsec       int
	secAlign   uint32
	fileAlign  uint32
	sizeOfHdrs uint32
}

type secHdr struct {
	name                                   string
	vsize, vaddr, rawSize, rawPtr, charact uint32
	off                                    int // header offset in the image
}

var le = binary.LittleEndian

func parse(b []byte) (*pe32, error) {
	if len(b) < 0x40 || string(b[:2]) != "MZ" {
		return nil, errors.New("not a PE image (no MZ header)")
	}
	peOff := int(le.Uint32(b[0x3c:]))
	if peOff+24 > len(b) || string(b[peOff:peOff+4]) != "PE\x00\x00" {
		return nil, errors.New("not a PE image (no PE signature)")
	}
	coff := peOff + 4
	p := &pe32{b: b, opt: coff + 20, nsec: int(le.Uint16(b[coff+2:])), machine: le.Uint16(b[coff:])}
	optSize := int(le.Uint16(b[coff+16:]))
	if p.opt+optSize > len(b) || optSize < 152 || le.Uint16(b[p.opt:]) != 0x20b {
		return nil, errors.New("not a PE32+ (64-bit) image")
	}
	p.secTable = p.opt + optSize
	p.secAlign = le.Uint32(b[p.opt+32:])
	p.fileAlign = le.Uint32(b[p.opt+36:])
	p.sizeOfHdrs = le.Uint32(b[p.opt+60:])
	if p.secAlign == 0 || p.fileAlign == 0 || p.secTable+p.nsec*40 > len(b) {
		return nil, errors.New("corrupt PE headers")
	}
	return p, nil
}

func (p *pe32) section(i int) secHdr {
	o := p.secTable + i*40
	h := p.b[o : o+40]
	return secHdr{
		name:  string(bytes.TrimRight(h[:8], "\x00")),
		vsize: le.Uint32(h[8:]), vaddr: le.Uint32(h[12:]),
		rawSize: le.Uint32(h[16:]), rawPtr: le.Uint32(h[20:]),
		charact: le.Uint32(h[36:]), off: o,
	}
}

func (p *pe32) securityDir() (uint32, uint32) {
	return le.Uint32(p.b[p.opt+144:]), le.Uint32(p.b[p.opt+148:])
}

func roundUp(x, a uint32) uint32 { return (x + a - 1) / a * a }

// Build assembles the UKI.
func Build(in Input) ([]byte, error) {
	stub := append([]byte(nil), in.Stub...)
	p, err := parse(stub)
	if err != nil {
		return nil, fmt.Errorf("uki: stub: %w", err)
	}
	if va, size := p.securityDir(); va != 0 || size != 0 {
		return nil, errors.New("uki: stub is already signed; use the unsigned linuxx64.efi.stub")
	}
	kernel, err := parse(append([]byte(nil), in.Linux...))
	if err != nil {
		return nil, fmt.Errorf("uki: kernel: %w (want an EFI-stub kernel image)", err)
	}
	if kernel.machine != p.machine {
		return nil, fmt.Errorf("uki: the kernel is for PE machine %#04x, the stub for %#04x: use the stub of the kernel's architecture", kernel.machine, p.machine)
	}
	if in.Uname == "" {
		if in.Uname, err = KernelRelease(in.Linux); err != nil {
			return nil, err
		}
	}
	if in.SBAT == "" {
		in.SBAT = DefaultSBAT
	}
	// The stub's sections, and the end of its raw data (a stub may carry
	// unaligned trailing data such as a symbol table: keep it).
	sbatIdx := -1
	for i := 0; i < p.nsec; i++ {
		if p.section(i).name == ".sbat" {
			sbatIdx = i
		}
	}
	if sbatIdx >= 0 {
		s := p.section(sbatIdx)
		old := bytes.TrimRight(stub[s.rawPtr:s.rawPtr+min(s.vsize, s.rawSize)], "\x00")
		merged := append(append([]byte{}, old...), []byte(in.SBAT)...)
		if len(old) > 0 && old[len(old)-1] != '\n' {
			merged = append(append(append([]byte{}, old...), '\n'), []byte(in.SBAT)...)
		}
		// It must fit the raw data and the address range before the next
		// section.
		room := s.rawSize
		for i := 0; i < p.nsec; i++ {
			if n := p.section(i); n.vaddr > s.vaddr && n.vaddr-s.vaddr < room {
				room = n.vaddr - s.vaddr
			}
		}
		if uint32(len(merged)) > room {
			return nil, fmt.Errorf("uki: merged .sbat (%d bytes) does not fit the stub's .sbat section (%d bytes)", len(merged), room)
		}
		copy(stub[s.rawPtr:s.rawPtr+s.rawSize], append(merged, make([]byte, int(s.rawSize)-len(merged))...))
		le.PutUint32(stub[s.off+8:], uint32(len(merged)))
	}

	linuxVSize := uint32(len(in.Linux))
	if soi := le.Uint32(kernel.b[kernel.opt+56:]); soi > linuxVSize {
		// The kernel decompresses and runs in place: reserve its whole
		// image size, as ukify does.
		linuxVSize = soi
	}
	adds := []struct {
		name  string
		data  []byte
		vsize uint32
		code  bool
	}{
		{".osrel", []byte(in.OSRel), 0, false},
		{".cmdline", []byte(in.Cmdline), 0, false},
		{".uname", []byte(in.Uname), 0, false},
		{".initrd", in.Initrd, 0, false},
		{".linux", in.Linux, linuxVSize, true},
	}
	if sbatIdx < 0 {
		adds = append(adds, struct {
			name  string
			data  []byte
			vsize uint32
			code  bool
		}{".sbat", []byte("sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n" + in.SBAT), 0, false})
	}
	out := stub
	initData := le.Uint32(out[p.opt+8:])
	for _, a := range adds {
		if len(a.data) == 0 {
			return nil, fmt.Errorf("uki: section %s is empty", a.name)
		}
		hdrOff := p.secTable + p.nsec*40
		if uint32(hdrOff+40) > p.sizeOfHdrs {
			return nil, fmt.Errorf("uki: no room in the stub's headers for section %s", a.name)
		}
		for _, c := range out[hdrOff : hdrOff+40] {
			if c != 0 {
				return nil, fmt.Errorf("uki: stub headers are not empty where section %s would go", a.name)
			}
		}
		last := p.section(p.nsec - 1)
		vsize := a.vsize
		if vsize == 0 {
			vsize = uint32(len(a.data))
		}
		rawPtr := roundUp(uint32(len(out)), p.fileAlign)
		rawSize := roundUp(uint32(len(a.data)), p.fileAlign)
		vaddr := roundUp(last.vaddr+max(last.vsize, last.rawSize), p.secAlign)
		charact := uint32(scnMemRead | scnCntInitData)
		if a.code {
			charact = scnMemRead | scnCntCode
		}
		out = append(out, make([]byte, int(rawPtr)-len(out))...)
		out = append(out, a.data...)
		out = append(out, make([]byte, int(rawSize)-len(a.data))...)
		p.b = out
		h := out[hdrOff : hdrOff+40]
		copy(h[:8], a.name)
		le.PutUint32(h[8:], vsize)
		le.PutUint32(h[12:], vaddr)
		le.PutUint32(h[16:], rawSize)
		le.PutUint32(h[20:], rawPtr)
		le.PutUint32(h[36:], charact)
		p.nsec++
		initData += vsize
	}
	coff := p.opt - 20
	le.PutUint16(out[coff+2:], uint16(p.nsec))
	le.PutUint32(out[p.opt+8:], initData)
	last := p.section(p.nsec - 1)
	le.PutUint32(out[p.opt+56:], roundUp(last.vaddr+last.vsize, p.secAlign)) // SizeOfImage
	le.PutUint32(out[p.opt+64:], 0)                                          // CheckSum: unused by UEFI
	return out, nil
}

// Machine returns the PE machine type of a PE32+ image (the stub, the
// kernel or a built UKI): 0x8664 for x86-64, 0xaa64 for AArch64.
func Machine(img []byte) (uint16, error) {
	p, err := parse(img)
	if err != nil {
		return 0, fmt.Errorf("uki: %w", err)
	}
	return p.machine, nil
}

// KernelRelease reads the release string ("6.12.1-cloud-amd64") from an
// x86 bzImage's setup header.
func KernelRelease(kernel []byte) (string, error) {
	if len(kernel) < 0x210 || string(kernel[0x202:0x206]) != "HdrS" {
		return "", errors.New("uki: kernel: no x86 boot header (HdrS); give the release explicitly")
	}
	off := 0x200 + int(le.Uint16(kernel[0x20e:]))
	if off >= len(kernel) {
		return "", errors.New("uki: kernel: version string offset out of range")
	}
	end := bytes.IndexByte(kernel[off:min(off+256, len(kernel))], ' ')
	if end <= 0 {
		return "", errors.New("uki: kernel: unreadable version string")
	}
	return string(kernel[off : off+end]), nil
}
