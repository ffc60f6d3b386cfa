package efivars

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDescribe(t *testing.T) {
	e := testEnrollment(t)
	out, err := mustParse(t, readOVMF(t, ovmfTemplate)).Enroll(e)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Describe("vars.fd", mustParse(t, out))
	if err != nil {
		t.Fatal(err)
	}
	if v.File != "vars.fd" || v.Size != len(out) || !v.SecureBoot || v.Dirty || v.FTWOffset == 0 || v.FTWPending {
		t.Errorf("Describe = %+v", v)
	}
	type row struct{ Name, Namespace, Attributes, Time, Owner string }
	var got []row
	for _, ev := range v.Variables {
		r := row{Name: ev.Name, Namespace: ev.Namespace, Attributes: ev.Attributes, Time: ev.Time}
		for _, s := range ev.Signatures {
			r.Owner += s.Type + " " + s.Owner + " " + s.Subject
		}
		got = append(got, r)
	}
	owner := e.Owner.String()
	want := []row{
		{"SecureBootEnable", "EfiSecureBootEnableDisable", "NV|BS", "", ""},
		{"CustomMode", "EfiCustomModeEnable", "NV|BS", "", ""},
		{"PK", "EfiGlobalVariable", "NV|BS|RT|AT", "2026-11-27T12:00:00Z", "EfiCertX509 " + owner + " " + e.PK.Subject.String()},
		{"KEK", "EfiGlobalVariable", "NV|BS|RT|AT", "2026-11-27T12:00:00Z", "EfiCertX509 " + owner + " " + e.KEK[0].Subject.String()},
		{"db", "EfiImageSecurityDatabase", "NV|BS|RT|AT", "2026-11-27T12:00:00Z", "EfiCertX509 " + owner + " " + e.DB[0].Subject.String()},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("variables: diff (-want +got)\n%s", d)
	}

	var b strings.Builder
	if err := v.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"vars.fd: edk2 variable store at 0x48,", "5 variables in", "Secure Boot at next start: on", "EfiSecureBootEnableDisable", "\nPK:\n  EfiCertX509 owner " + owner} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("WriteText lacks %q:\n%s", s, b.String())
		}
	}
}

func TestDescribeVariable(t *testing.T) {
	digest := [32]byte{1, 2, 3}
	dbx, err := MarshalSignatureLists([]SignatureList{SHA256List(GlobalVariable, digest)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		v    Variable
		sigs []SignatureView
		err  string
	}{
		{name: "not a signature database", v: Variable{Name: "Boot0000", GUID: GlobalVariable, Data: []byte{1}}},
		{name: "db name in another namespace", v: Variable{Name: "db", GUID: CustomModeEnable, Data: []byte{1}}},
		{name: "digests", v: Variable{Name: "dbx", GUID: ImageSecurityDatabase, Data: dbx},
			sigs: []SignatureView{{Type: GUIDName(CertSHA256), Owner: GlobalVariable.String(), SHA256: hex.EncodeToString(digest[:])}}},
		{name: "malformed list", v: Variable{Name: "KEK", GUID: GlobalVariable, Data: []byte{1, 2, 3}}, err: "variable KEK: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := describeVariable(tt.v)
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Errorf("describeVariable error = %v, want %q…", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.sigs, got.Signatures); d != "" {
				t.Errorf("signatures: diff (-want +got)\n%s", d)
			}
		})
	}
}
