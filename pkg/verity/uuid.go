package verity

import (
	"encoding/hex"
	"fmt"
)

// FormatUUID writes u as veritysetup prints it: lowercase 8-4-4-4-12 hex.
func FormatUUID(u [16]byte) string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ParseUUID reads the 8-4-4-4-12 hex form (either case).
func ParseUUID(s string) ([16]byte, error) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("UUID %q: want the form 01234567-89ab-cdef-0123-456789abcdef", s)
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, fmt.Errorf("UUID %q: %w", s, err)
	}
	return u, nil
}
