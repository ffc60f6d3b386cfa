package pcr

import "fmt"

// StubInitrd is the initrd systemd-stub 257 hands the kernel for a UKI
// with these sections: the .initrd section padded to 4 bytes, followed by
// a cpio archive it makes of the .osrel section (/.extra/os-release), the
// pieces concatenated the way its combine_initrds does. The kernel's EFI
// stub measures exactly these bytes into PCR 9. (Read from the memory of a
// guest stopped right after the kernel's "Measured initrd data into PCR 9"
// and checked against the TPM by test/qemu.)
func StubInitrd(initrd, osrel []byte) []byte {
	out := append([]byte{}, initrd...)
	out = pad4(out)
	if osrel == nil {
		return out
	}
	var c []byte
	c = cpioEntry(c, 1, 0o40555, ".extra", nil)
	c = cpioEntry(c, 2, 0o100444, ".extra/os-release", osrel)
	// systemd's trailer is a literal: nlink 1, uppercase name size.
	c = append(c, "070701"+"00000000"+"00000000"+"00000000"+"00000000"+"00000001"+"00000000"+"00000000"+
		"00000000"+"00000000"+"00000000"+"00000000"+"0000000B"+"00000000"+"TRAILER!!!\x00"...)
	c = pad4(c)
	return append(out, c...)
}

// cpioEntry appends one newc record as systemd-stub writes it: owner 0,
// mtime 0, one link, no checksum, lowercase hex.
func cpioEntry(b []byte, ino uint32, mode uint32, name string, data []byte) []byte {
	b = fmt.Appendf(b, "070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	b = append(b, name...)
	b = append(b, 0)
	b = pad4(b)
	b = append(b, data...)
	return pad4(b)
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}
