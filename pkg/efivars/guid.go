package efivars

import (
	"encoding/hex"
	"fmt"
)

// GUID is an EFI_GUID in its in-memory (and on-flash) byte order: the
// first three fields little-endian, the last eight bytes as written.
type GUID [16]byte

// String formats g as 8-4-4-4-12 lowercase hex.
func (g GUID) String() string {
	return fmt.Sprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%x",
		g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10:])
}

// ParseGUID parses the 8-4-4-4-12 text form.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("invalid GUID %q (want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", s)
	}
	b, err := hex.DecodeString(s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:])
	if err != nil {
		return g, fmt.Errorf("invalid GUID %q: %w", s, err)
	}
	g = GUID{b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]}
	copy(g[8:], b[8:])
	return g, nil
}

// MustGUID is ParseGUID for constants.
func MustGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// GUIDs used by edk2 and the UEFI specification.
var (
	// Firmware volume and store signatures.
	SystemNVDataFV        = MustGUID("fff12b8d-7696-4c8b-a985-2747075b4f50") // EFI_SYSTEM_NV_DATA_FV_GUID
	AuthenticatedVariable = MustGUID("aaf32c78-947b-439a-a180-2e144ec37792") // authenticated store signature
	PlainVariable         = MustGUID("ddcf3616-3275-4164-98b6-fe85707ffe7d") // EFI_VARIABLE_GUID: store without auth headers
	FTWWorkingBlock       = MustGUID("9e58292b-7c68-497d-a0ce-6500fd9f1b95") // EDKII_WORKING_BLOCK_SIGNATURE_GUID

	// Variable namespaces.
	GlobalVariable          = MustGUID("8be4df61-93ca-11d2-aa0d-00e098032b8c") // EFI_GLOBAL_VARIABLE: PK, KEK, SecureBoot
	ImageSecurityDatabase   = MustGUID("d719b2cb-3d3a-4596-a3bc-dad00e67656f") // db, dbx, dbt
	SecureBootEnableDisable = MustGUID("f0a30bc7-af08-4556-99c4-001009c93a44") // edk2 SecureBootEnable
	CustomModeEnable        = MustGUID("c076ec0c-7028-4399-a072-71ee5c448b9f") // edk2 CustomMode

	// Signature types in EFI_SIGNATURE_LIST.
	CertX509   = MustGUID("a5c059a1-94e4-4aa7-87b5-ab155c2bf072") // EFI_CERT_X509_GUID
	CertSHA256 = MustGUID("c1c41626-504c-4092-aca9-41f936934328") // EFI_CERT_SHA256_GUID
)

var guidNames = map[GUID]string{
	GlobalVariable:          "EfiGlobalVariable",
	ImageSecurityDatabase:   "EfiImageSecurityDatabase",
	SecureBootEnableDisable: "EfiSecureBootEnableDisable",
	CustomModeEnable:        "EfiCustomModeEnable",
	CertX509:                "EfiCertX509",
	CertSHA256:              "EfiCertSha256",
}

// Name returns a well-known GUID's edk2 name, or its text form.
func (g GUID) Name() string {
	if n, ok := guidNames[g]; ok {
		return n
	}
	return g.String()
}
