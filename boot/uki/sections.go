package uki

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// SectionInfo describes one PE section, for inspection and measurement.
type SectionInfo struct {
	Name           string `json:"name"`
	VirtualAddress uint32 `json:"virtual_address"`
	VirtualSize    uint32 `json:"virtual_size"`
	RawSize        uint32 `json:"raw_size"`
	Offset         uint32 `json:"offset"`
	// SHA256 is over the section's bytes [0:VirtualSize] as loaded in
	// memory (zero-filled past the raw data), which is what systemd-stub
	// measures into PCR 11.
	SHA256 string `json:"sha256"`
}

// Sections lists the sections of a PE32+ image in header order.
func Sections(img []byte) ([]SectionInfo, error) {
	p, err := parse(img)
	if err != nil {
		return nil, fmt.Errorf("uki: %w", err)
	}
	var out []SectionInfo
	for i := 0; i < p.nsec; i++ {
		s := p.section(i)
		if uint64(s.rawPtr)+uint64(s.rawSize) > uint64(len(img)) {
			return nil, fmt.Errorf("uki: section %s extends past the end of the file", s.name)
		}
		h := sha256.New()
		n := min(s.vsize, s.rawSize)
		h.Write(img[s.rawPtr : s.rawPtr+n])
		if s.vsize > n {
			h.Write(make([]byte, s.vsize-n))
		}
		out = append(out, SectionInfo{
			Name: s.name, VirtualAddress: s.vaddr, VirtualSize: s.vsize,
			RawSize: s.rawSize, Offset: s.rawPtr, SHA256: hex.EncodeToString(h.Sum(nil)),
		})
	}
	return out, nil
}

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
