package efivars

import "github.com/hardenvm/hardenvm/pkg/gpt"

// Every GUID here is a gpt.GUID, in the byte order of its text form; an
// EFI_GUID on flash or in a signature list is mixed-endian (the first three
// fields little-endian), which gpt.DecodeGUID and gpt.AppendGUID convert.

// GUIDs used by edk2 and the UEFI specification.
var (
	// Firmware volume and store signatures.
	SystemNVDataFV        = gpt.MustParseGUID("fff12b8d-7696-4c8b-a985-2747075b4f50") // EFI_SYSTEM_NV_DATA_FV_GUID
	AuthenticatedVariable = gpt.MustParseGUID("aaf32c78-947b-439a-a180-2e144ec37792") // authenticated store signature
	PlainVariable         = gpt.MustParseGUID("ddcf3616-3275-4164-98b6-fe85707ffe7d") // EFI_VARIABLE_GUID: store without auth headers
	FTWWorkingBlock       = gpt.MustParseGUID("9e58292b-7c68-497d-a0ce-6500fd9f1b95") // EDKII_WORKING_BLOCK_SIGNATURE_GUID

	// Variable namespaces.
	GlobalVariable          = gpt.MustParseGUID("8be4df61-93ca-11d2-aa0d-00e098032b8c") // EFI_GLOBAL_VARIABLE: PK, KEK, SecureBoot
	ImageSecurityDatabase   = gpt.MustParseGUID("d719b2cb-3d3a-4596-a3bc-dad00e67656f") // db, dbx, dbt
	SecureBootEnableDisable = gpt.MustParseGUID("f0a30bc7-af08-4556-99c4-001009c93a44") // edk2 SecureBootEnable
	CustomModeEnable        = gpt.MustParseGUID("c076ec0c-7028-4399-a072-71ee5c448b9f") // edk2 CustomMode

	// Signature types in EFI_SIGNATURE_LIST.
	CertX509   = gpt.MustParseGUID("a5c059a1-94e4-4aa7-87b5-ab155c2bf072") // EFI_CERT_X509_GUID
	CertSHA256 = gpt.MustParseGUID("c1c41626-504c-4092-aca9-41f936934328") // EFI_CERT_SHA256_GUID
)

var guidNames = map[gpt.GUID]string{
	GlobalVariable:          "EfiGlobalVariable",
	ImageSecurityDatabase:   "EfiImageSecurityDatabase",
	SecureBootEnableDisable: "EfiSecureBootEnableDisable",
	CustomModeEnable:        "EfiCustomModeEnable",
	CertX509:                "EfiCertX509",
	CertSHA256:              "EfiCertSha256",
}

// GUIDName returns a well-known GUID's edk2 name, or its text form.
func GUIDName(g gpt.GUID) string {
	if n, ok := guidNames[g]; ok {
		return n
	}
	return g.String()
}
