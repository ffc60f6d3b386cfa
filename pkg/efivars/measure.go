package efivars

import (
	"encoding/binary"
	"unicode/utf16"
)

// VariableData encodes a UEFI_VARIABLE_DATA (TCG PC Client PFP spec), the
// event data the firmware measures into PCR 7: for the Secure Boot policy
// (EV_EFI_VARIABLE_DRIVER_CONFIG: SecureBoot, PK, KEK, db, dbx, with data
// nil for a variable that does not exist) and for the db entry that
// verified an image (EV_EFI_VARIABLE_AUTHORITY: name "db", data the
// EFI_SIGNATURE_DATA, i.e. owner GUID followed by the certificate). edk2
// extends PCR 7 with the digest of these bytes, whole.
//
// Layout: VariableName (the vendor GUID), UnicodeNameLength (UINT64,
// characters, no NUL), VariableDataLength (UINT64), the UTF-16LE name
// without NUL, the data.
func VariableData(name string, guid GUID, data []byte) []byte {
	u := utf16.Encode([]rune(name))
	b := make([]byte, 0, 32+2*len(u)+len(data))
	b = append(b, guid[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(u)))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(data)))
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return append(b, data...)
}
