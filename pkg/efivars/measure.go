package efivars

import (
	"encoding/binary"
	"github.com/hardenvm/hardenvm/pkg/gpt"
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
func VariableData(name string, guid gpt.GUID, data []byte) []byte {
	u := utf16.Encode([]rune(name))
	b := make([]byte, 0, 32+2*len(u)+len(data))
	b = gpt.AppendGUID(b, guid)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(u)))
	b = binary.LittleEndian.AppendUint64(b, uint64(len(data)))
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return append(b, data...)
}

// SecureBootEnabled reports the value the firmware gives the volatile
// SecureBoot variable at boot from this store, as edk2's
// AuthVariableLibInitialize decides it: on when a PK exists (user mode)
// and SecureBootEnable is 1 or absent (edk2 then creates it as 1).
func (im *Image) SecureBootEnabled() bool {
	if _, ok := im.Lookup(GlobalVariable, NamePK); !ok {
		return false
	}
	v, ok := im.Lookup(SecureBootEnableDisable, NameSecureBootEnable)
	return !ok || (len(v.Data) == 1 && v.Data[0] == 1)
}

// PolicyEvents returns the event data of the EV_EFI_VARIABLE_DRIVER_CONFIG
// events edk2's Tcg2Dxe logs into PCR 7 when it boots from this store, in
// its order: SecureBoot (one byte), PK, KEK, db, dbx (each measured even
// when absent, with no data), then dbt only if it exists. The separator
// and the EV_EFI_VARIABLE_AUTHORITY events (AuthorityEvent) follow.
func (im *Image) PolicyEvents() [][]byte {
	sb := byte(0)
	if im.SecureBootEnabled() {
		sb = 1
	}
	data := func(g gpt.GUID, name string) []byte {
		v, _ := im.Lookup(g, name)
		return v.Data
	}
	events := [][]byte{
		VariableData("SecureBoot", GlobalVariable, []byte{sb}),
		VariableData(NamePK, GlobalVariable, data(GlobalVariable, NamePK)),
		VariableData(NameKEK, GlobalVariable, data(GlobalVariable, NameKEK)),
		VariableData(NameDB, ImageSecurityDatabase, data(ImageSecurityDatabase, NameDB)),
		VariableData(NameDBX, ImageSecurityDatabase, data(ImageSecurityDatabase, NameDBX)),
	}
	if dbt, ok := im.Lookup(ImageSecurityDatabase, "dbt"); ok {
		events = append(events, VariableData("dbt", ImageSecurityDatabase, dbt.Data))
	}
	return events
}

// AuthorityEvent is the event data of the EV_EFI_VARIABLE_AUTHORITY event
// edk2 logs into PCR 7 the first time an image is verified by the db
// entry (owner, cert): the EFI_SIGNATURE_DATA as data of variable "db".
// edk2 logs each distinct entry once per boot, however many images it
// verifies.
func AuthorityEvent(owner gpt.GUID, cert []byte) []byte {
	return VariableData(NameDB, ImageSecurityDatabase, append(gpt.AppendGUID(nil, owner), cert...))
}
