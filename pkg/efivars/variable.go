package efivars

import (
	"fmt"
	"github.com/hardenvm/hardenvm/pkg/gpt"
	"strings"
	"unicode/utf16"
)

// Attributes are a variable's EFI_VARIABLE_* attribute bits.
type Attributes uint32

const (
	NonVolatile                       Attributes = 0x01
	BootServiceAccess                 Attributes = 0x02
	RuntimeAccess                     Attributes = 0x04
	HardwareErrorRecord               Attributes = 0x08
	AuthenticatedWriteAccess          Attributes = 0x10 // deprecated count-based authentication
	TimeBasedAuthenticatedWriteAccess Attributes = 0x20
	AppendWrite                       Attributes = 0x40
)

var attrNames = []struct {
	a    Attributes
	name string
}{
	{NonVolatile, "NV"}, {BootServiceAccess, "BS"}, {RuntimeAccess, "RT"}, {HardwareErrorRecord, "HR"},
	{AuthenticatedWriteAccess, "AW"}, {TimeBasedAuthenticatedWriteAccess, "AT"}, {AppendWrite, "AP"},
}

// String lists the attributes the way edk2's debug output abbreviates
// them, e.g. "NV|BS|RT|AT"; unknown bits are shown in hex.
func (a Attributes) String() string {
	var parts []string
	for _, n := range attrNames {
		if a&n.a != 0 {
			parts = append(parts, n.name)
			a &^= n.a
		}
	}
	if a != 0 || len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%#x", uint32(a)))
	}
	return strings.Join(parts, "|")
}

// Variable is one UEFI variable with the fields of edk2's
// AUTHENTICATED_VARIABLE_HEADER that the firmware keeps with it.
type Variable struct {
	Name           string
	GUID           gpt.GUID
	Attributes     Attributes
	MonotonicCount uint64 // count-based authentication (deprecated); 0
	Time           Time   // time-based authentication: the newest accepted timestamp
	PubKeyIndex    uint32 // count-based authentication; 0
	Data           []byte
}

// Key identifies a variable: its name within its vendor GUID.
func (v *Variable) Key() string { return v.GUID.String() + "/" + v.Name }

// encodeName returns the NUL-terminated UTF-16LE name.
func encodeName(name string) ([]byte, error) {
	if name == "" {
		return nil, fmt.Errorf("empty variable name")
	}
	if strings.ContainsRune(name, 0) {
		return nil, fmt.Errorf("variable name %q contains NUL", name)
	}
	u := utf16.Encode([]rune(name))
	b := make([]byte, 0, 2*len(u)+2)
	for _, c := range u {
		b = append(b, byte(c), byte(c>>8))
	}
	b = append(b, 0, 0)
	if got, err := decodeName(b); err != nil || got != name {
		return nil, fmt.Errorf("variable name %q is not valid Unicode", name)
	}
	return b, nil
}

// decodeName decodes a NUL-terminated UTF-16LE name, refusing what would
// not encode back to the same bytes.
func decodeName(b []byte) (string, error) {
	if len(b) < 4 || len(b)%2 != 0 {
		return "", fmt.Errorf("name size %d: want an even size of at least 4", len(b))
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	if u[len(u)-1] != 0 {
		return "", fmt.Errorf("name is not NUL-terminated")
	}
	u = u[:len(u)-1]
	for i, c := range u {
		if c == 0 {
			return "", fmt.Errorf("name has a NUL at character %d", i)
		}
	}
	s := string(utf16.Decode(u))
	if !equalUTF16(utf16.Encode([]rune(s)), u) {
		return "", fmt.Errorf("name is not valid UTF-16")
	}
	return s, nil
}

func equalUTF16(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
