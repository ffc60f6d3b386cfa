package gpt

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// GUID is a GUID in the byte order of its text form
// ("c12a7328-f81f-11d2-…" is 0xc1, 0x2a, …). On disk, GPT stores the first
// three fields little-endian; encode and decodeGUID convert.
type GUID [16]byte

// ParseGUID parses the 36-character text form (either case).
func ParseGUID(s string) (GUID, error) {
	var g GUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("gpt: %q is not a GUID (want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", s)
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	if _, err := hex.Decode(g[:], []byte(h)); err != nil {
		return GUID{}, fmt.Errorf("gpt: %q is not a GUID: %w", s, err)
	}
	return g, nil
}

// MustParseGUID is ParseGUID for constants; it panics on a malformed GUID.
func MustParseGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

func (g GUID) String() string {
	h := hex.EncodeToString(g[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// IsZero reports whether g is the all-zero GUID (an unused entry's type).
func (g GUID) IsZero() bool { return g == GUID{} }

// encode writes g in GPT's on-disk (mixed-endian) order.
func (g GUID) encode(b []byte) {
	b[0], b[1], b[2], b[3] = g[3], g[2], g[1], g[0]
	b[4], b[5] = g[5], g[4]
	b[6], b[7] = g[7], g[6]
	copy(b[8:16], g[8:16])
}

func decodeGUID(b []byte) GUID {
	var g GUID
	g[0], g[1], g[2], g[3] = b[3], b[2], b[1], b[0]
	g[4], g[5] = b[5], b[4]
	g[6], g[7] = b[7], b[6]
	copy(g[8:16], b[8:16])
	return g
}

// NewGUID derives a GUID from its inputs: the first 16 bytes of
// SHA-256("hardenvm-gpt-guid" ‖ for each part: u64 length ‖ part), with the
// RFC 9562 version-4 and variant bits set so that tools treat it as an
// ordinary random-looking UUID. Equal inputs give equal GUIDs; the length
// prefixes keep ("ab","c") and ("a","bc") apart.
func NewGUID(parts ...[]byte) GUID {
	h := sha256.New()
	h.Write([]byte("hardenvm-gpt-guid"))
	var n [8]byte
	for _, p := range parts {
		binary.LittleEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	var g GUID
	copy(g[:], h.Sum(nil))
	g[6] = g[6]&0x0f | 0x40
	g[8] = g[8]&0x3f | 0x80
	return g
}

// DecodeGUID reads a GUID stored in mixed-endian order, as GPT entries and
// every EFI_GUID do (the first three fields little-endian).
func DecodeGUID(b []byte) GUID { return decodeGUID(b) }

// AppendGUID appends g in the mixed-endian order that DecodeGUID reads.
func AppendGUID(b []byte, g GUID) []byte {
	var e [16]byte
	g.encode(e[:])
	return append(b, e[:]...)
}
