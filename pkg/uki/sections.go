package uki

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// SectionInfo describes one PE section, for inspection and measurement.
type SectionInfo struct {
	Name           string `json:"name"`
	VirtualAddress uint32 `json:"virtualAddress"`
	VirtualSize    uint32 `json:"virtualSize"`
	RawSize        uint32 `json:"rawSize"`
	Offset         uint32 `json:"offset"`
	// SHA256 is over the section's bytes [0:VirtualSize] as loaded in
	// memory (zero-filled past the raw data), which is what systemd-stub
	// measures into PCR 11.
	SHA256 string `json:"sha256"`
}

// Sections lists the sections of a PE32+ image in header order.
//
// The zero fill past a section's raw data (VirtualSize > SizeOfRawData)
// is hashed, not read, so it is bounded before any work: every section
// must lie inside the image's SizeOfImage (the PE format's own bound), and
// the fill of all sections together may not exceed MaxZeroFill(len(img))
// (a bound by the file: a real UKI reserves little more than its kernel's
// size; a crafted header could otherwise ask for ~47 GiB of hashing).
func Sections(img []byte) ([]SectionInfo, error) {
	p, err := parse(img)
	if err != nil {
		return nil, fmt.Errorf("uki: %w", err)
	}
	sizeOfImage := uint64(le.Uint32(img[p.opt+56:]))
	maxFill := MaxZeroFill(len(img))
	var fill uint64
	for i := 0; i < p.nsec; i++ {
		s := p.section(i)
		if uint64(s.rawPtr)+uint64(s.rawSize) > uint64(len(img)) {
			return nil, fmt.Errorf("uki: section %s extends past the end of the file", s.name)
		}
		if end := uint64(s.vaddr) + uint64(s.vsize); end > sizeOfImage {
			return nil, fmt.Errorf("uki: section %s (virtual %#x+%#x) lies outside the image's SizeOfImage %#x", s.name, s.vaddr, s.vsize, sizeOfImage)
		}
		if fill += uint64(s.vsize - min(s.vsize, s.rawSize)); fill > maxFill {
			return nil, fmt.Errorf("uki: section %s: the sections' virtual sizes exceed their data by more than %d bytes (a %d-byte file): not a UKI", s.name, maxFill, len(img))
		}
	}
	var out []SectionInfo
	zeros := make([]byte, 64<<10)
	for i := 0; i < p.nsec; i++ {
		s := p.section(i)
		h := sha256.New()
		n := min(s.vsize, s.rawSize)
		h.Write(img[s.rawPtr : s.rawPtr+n])
		for left := s.vsize - n; left > 0; {
			k := min(left, uint32(len(zeros)))
			h.Write(zeros[:k])
			left -= k
		}
		out = append(out, SectionInfo{
			Name: s.name, VirtualAddress: s.vaddr, VirtualSize: s.vsize,
			RawSize: s.rawSize, Offset: s.rawPtr, SHA256: hex.EncodeToString(h.Sum(nil)),
		})
	}
	return out, nil
}

// MaxZeroFill is how many bytes of zero fill (virtual size past the raw
// data, all sections together) Sections accepts in a file of n bytes:
// four times the file, at least 64 MiB.
func MaxZeroFill(n int) uint64 { return max(4*uint64(n), 64<<20) }

// Section returns the bytes [0:VirtualSize] of the named section, capped
// at its raw data.
func Section(img []byte, name string) ([]byte, error) {
	p, err := parse(img)
	if err != nil {
		return nil, fmt.Errorf("uki: %w", err)
	}
	for i := 0; i < p.nsec; i++ {
		if s := p.section(i); s.name == name {
			n := min(s.vsize, s.rawSize)
			if uint64(s.rawPtr)+uint64(n) > uint64(len(img)) {
				return nil, fmt.Errorf("uki: section %s extends past the end of the file", name)
			}
			return img[s.rawPtr : s.rawPtr+n], nil
		}
	}
	return nil, fmt.Errorf("uki: no %s section", name)
}
