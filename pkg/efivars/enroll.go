package efivars

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/hardenvm/hardenvm/pkg/gpt"
	"github.com/hardenvm/hardenvm/pkg/keys"
)

// Names of the Secure Boot variables.
const (
	NamePK               = "PK"
	NameKEK              = "KEK"
	NameDB               = "db"
	NameDBX              = "dbx"
	NameSecureBootEnable = "SecureBootEnable"
	NameCustomMode       = "CustomMode"
)

// SecureBootAttributes are the attributes of PK, KEK, db and dbx: stored,
// visible at runtime, writable only with a time-based authenticated
// update signed by the key above.
const SecureBootAttributes = NonVolatile | BootServiceAccess | RuntimeAccess | TimeBasedAuthenticatedWriteAccess

// Enrollment is what Enroll writes.
type Enrollment struct {
	Owner gpt.GUID          // SignatureOwner of every certificate
	PK    *x509.Certificate // the platform key
	KEK   []*x509.Certificate
	DB    []*x509.Certificate
	// DBX holds forbidden signatures. Empty means no dbx variable at all
	// (the firmware measures an absent dbx as zero bytes).
	DBX []SignatureList
	// Time goes into the authenticated variable headers: later
	// authenticated updates must carry a newer timestamp. Required, so
	// the output depends on inputs only.
	Time time.Time
}

// SecureBootVariables returns the variables an enrollment consists of, in
// the order Enroll writes them:
//
//   - SecureBootEnable (edk2 f0a30bc7-…, NV|BS) = 1 and CustomMode
//     (edk2 c076ec0c-…, NV|BS) = 0, the values edk2 itself would create
//     once a PK exists; with them the firmware is in user mode with
//     Secure Boot on from its first start;
//   - PK, KEK (EFI_GLOBAL_VARIABLE), db and, when given, dbx
//     (EFI_IMAGE_SECURITY_DATABASE), NV|BS|RT|AT, each an
//     EFI_SIGNATURE_LIST per X.509 certificate.
func SecureBootVariables(e Enrollment) ([]Variable, error) {
	if e.PK == nil {
		return nil, errors.New("efivars: enrollment has no PK certificate")
	}
	if len(e.KEK) == 0 || len(e.DB) == 0 {
		return nil, errors.New("efivars: enrollment needs at least one KEK and one db certificate")
	}
	if e.Time.IsZero() {
		return nil, errors.New("efivars: Enrollment.Time must be set (it goes into the authenticated variable headers)")
	}
	ts, err := TimeOf(e.Time)
	if err != nil {
		return nil, fmt.Errorf("efivars: %w", err)
	}
	certs := func(cs []*x509.Certificate) ([]byte, error) {
		var lists []SignatureList
		for _, c := range cs {
			lists = append(lists, X509List(e.Owner, c))
		}
		return MarshalSignatureLists(lists)
	}
	vars := []Variable{
		{Name: NameSecureBootEnable, GUID: SecureBootEnableDisable, Attributes: NonVolatile | BootServiceAccess, Data: []byte{1}},
		{Name: NameCustomMode, GUID: CustomModeEnable, Attributes: NonVolatile | BootServiceAccess, Data: []byte{0}},
	}
	for _, sb := range []struct {
		name  string
		guid  gpt.GUID
		certs []*x509.Certificate
	}{
		{NamePK, GlobalVariable, []*x509.Certificate{e.PK}},
		{NameKEK, GlobalVariable, e.KEK},
		{NameDB, ImageSecurityDatabase, e.DB},
	} {
		data, err := certs(sb.certs)
		if err != nil {
			return nil, fmt.Errorf("efivars: %s: %w", sb.name, err)
		}
		vars = append(vars, Variable{Name: sb.name, GUID: sb.guid, Attributes: SecureBootAttributes, Time: ts, Data: data})
	}
	if len(e.DBX) > 0 {
		data, err := MarshalSignatureLists(e.DBX)
		if err != nil {
			return nil, fmt.Errorf("efivars: dbx: %w", err)
		}
		vars = append(vars, Variable{Name: NameDBX, GUID: ImageSecurityDatabase, Attributes: SecureBootAttributes, Time: ts, Data: data})
	}
	return vars, nil
}

// replaced reports whether Enroll drops a template variable: everything
// Secure Boot policy is made of, so no key of the template survives.
func replaced(v *Variable) bool {
	switch v.GUID {
	case ImageSecurityDatabase, SecureBootEnableDisable, CustomModeEnable:
		return true // db, dbx, dbt, dbr; the edk2 switches
	case GlobalVariable:
		return v.Name == NamePK || v.Name == NameKEK
	}
	return false
}

// Enroll returns a copy of the image with the enrollment's variables in
// place of any Secure Boot policy it held; other variables are kept.
func (im *Image) Enroll(e Enrollment) ([]byte, error) {
	sb, err := SecureBootVariables(e)
	if err != nil {
		return nil, err
	}
	var vars []Variable
	for _, v := range im.Variables() {
		if !replaced(&v) {
			vars = append(vars, v)
		}
	}
	out, err := im.Build(append(vars, sb...))
	if err != nil {
		return nil, fmt.Errorf("efivars: %w", err)
	}
	return out, nil
}

// KeySetEnrollment enrolls a hardenvm key set: its PK, its KEK as the only
// KEK, its db certificate as the only db entry, all owned by the set's
// owner GUID, no dbx.
func KeySetEnrollment(set *keys.Set, t time.Time) (Enrollment, error) {
	e := Enrollment{Owner: set.Owner, Time: t}
	for _, r := range []keys.Role{keys.PK, keys.KEK, keys.DB} {
		k := set.Get(r)
		if k == nil || k.Cert == nil {
			return e, fmt.Errorf("efivars: the key set has no %s certificate", r)
		}
	}
	e.PK = set.Get(keys.PK).Cert
	e.KEK = []*x509.Certificate{set.Get(keys.KEK).Cert}
	e.DB = []*x509.Certificate{set.Get(keys.DB).Cert}
	return e, nil
}

// DefaultTemplate is the empty variable store of Debian's ovmf package, the
// template EnrollFile starts from unless told otherwise.
const DefaultTemplate = "/usr/share/OVMF/OVMF_VARS_4M.fd"

// EnrollFile reads the template flash image, enrolls e and writes the
// result to out atomically (0644): out is either complete or untouched.
func EnrollFile(template, out string, e Enrollment) error {
	return enrollFile(template, out, e, nil)
}
