package efivars

import (
	"bytes"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/gpt"
	"github.com/hardenvm/hardenvm/pkg/keys"
)

var enrollTime = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func testEnrollment(t *testing.T) Enrollment {
	t.Helper()
	e, err := KeySetEnrollment(testKeys(t), enrollTime)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEnrollTemplate(t *testing.T) {
	tmpl := readOVMF(t, ovmfTemplate)
	e := testEnrollment(t)
	out, err := mustParse(t, tmpl).Enroll(e)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(tmpl) {
		t.Fatalf("output is %d bytes, template %d", len(out), len(tmpl))
	}
	im := mustParse(t, out)
	ts := Time{Year: 2026, Month: 11, Day: 27, Hour: 12}
	type row struct {
		Name  string
		GUID  string
		Attrs string
		Time  string
		Certs []string // subjects, in order
		Data  []byte   // for the one-byte switches
	}
	var got []row
	for _, v := range im.Variables() {
		r := row{Name: v.Name, GUID: v.GUID.String(), Attrs: v.Attributes.String(), Time: v.Time.String()}
		if v.Attributes&TimeBasedAuthenticatedWriteAccess != 0 {
			lists, err := ParseSignatureLists(v.Data)
			if err != nil {
				t.Fatalf("%s: %v", v.Name, err)
			}
			for _, l := range lists {
				if l.Type != CertX509 || len(l.Signatures) != 1 || l.Signatures[0].Owner != e.Owner || l.Header != nil {
					t.Errorf("%s: list %+v is not one X.509 certificate owned by %s", v.Name, l.Type, e.Owner)
				}
				c, err := x509.ParseCertificate(l.Signatures[0].Data)
				if err != nil {
					t.Fatal(err)
				}
				r.Certs = append(r.Certs, c.Subject.CommonName)
			}
		} else {
			r.Data = v.Data
		}
		got = append(got, r)
	}
	want := []row{
		{Name: "SecureBootEnable", GUID: "f0a30bc7-af08-4556-99c4-001009c93a44", Attrs: "NV|BS", Time: "-", Data: []byte{1}},
		{Name: "CustomMode", GUID: "c076ec0c-7028-4399-a072-71ee5c448b9f", Attrs: "NV|BS", Time: "-", Data: []byte{0}},
		{Name: "PK", GUID: "8be4df61-93ca-11d2-aa0d-00e098032b8c", Attrs: "NV|BS|RT|AT", Time: ts.String(), Certs: []string{e.PK.Subject.CommonName}},
		{Name: "KEK", GUID: "8be4df61-93ca-11d2-aa0d-00e098032b8c", Attrs: "NV|BS|RT|AT", Time: ts.String(), Certs: []string{e.KEK[0].Subject.CommonName}},
		{Name: "db", GUID: "d719b2cb-3d3a-4596-a3bc-dad00e67656f", Attrs: "NV|BS|RT|AT", Time: ts.String(), Certs: []string{e.DB[0].Subject.CommonName}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("enrolled variables (-want +got):\n%s", diff)
	}
	if !strings.Contains(want[2].Certs[0], "(PK)") || !strings.Contains(want[4].Certs[0], "(db)") {
		t.Errorf("certificates are not the key set's: %q", want)
	}
	// Outside the variable region the template is kept byte for byte.
	if !bytes.Equal(out[:0x64], tmpl[:0x64]) || !bytes.Equal(out[0x40000:], tmpl[0x40000:]) {
		t.Error("enrollment changed bytes outside the variable store")
	}

	// Deterministic: same inputs, same bytes; another time changes only
	// the three timestamps.
	again, err := mustParse(t, tmpl).Enroll(e)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, again) {
		t.Error("two enrollments of the same inputs differ")
	}
	e2 := e
	e2.Time = enrollTime.Add(time.Second)
	later, err := mustParse(t, tmpl).Enroll(e2)
	if err != nil {
		t.Fatal(err)
	}
	var diffs int
	for i := range out {
		if out[i] != later[i] {
			diffs++
		}
	}
	if diffs != 3 {
		t.Errorf("one second later changed %d bytes, want 3 (the seconds of PK, KEK and db)", diffs)
	}
}

// TestEnrollReplacesKeys enrolls over Debian's Microsoft-keys store: no
// key of the template may survive, every other variable does.
func TestEnrollReplacesKeys(t *testing.T) {
	ms := mustParse(t, readOVMF(t, ovmfMS))
	e := testEnrollment(t)
	e.DBX = []SignatureList{SHA256List(e.Owner, [32]byte{1}, [32]byte{2})}
	out, err := ms.Enroll(e)
	if err != nil {
		t.Fatal(err)
	}
	im := mustParse(t, out)
	microsoft := gpt.AppendGUID(nil, gpt.MustParseGUID("77fa9abd-0359-4d32-bd60-28f4e78f784b"))
	kept := map[string]bool{}
	for _, v := range ms.Variables() {
		if !replaced(&v) {
			kept[v.Key()] = true
		}
	}
	for _, v := range im.Variables() {
		delete(kept, v.Key())
		if bytes.Contains(v.Data, microsoft) {
			t.Errorf("%s still holds a Microsoft-owned entry", v.Name)
		}
	}
	if len(kept) != 0 {
		t.Errorf("variables lost: %v", kept)
	}
	dbx, ok := im.Lookup(ImageSecurityDatabase, NameDBX)
	if !ok {
		t.Fatal("dbx missing")
	}
	lists, err := ParseSignatureLists(dbx.Data)
	if err != nil || len(lists) != 1 || lists[0].Type != CertSHA256 || len(lists[0].Signatures) != 2 {
		t.Errorf("dbx = %+v, %v; want one SHA-256 list of two", lists, err)
	}
}

func TestEnrollErrors(t *testing.T) {
	good := testEnrollment(t)
	tests := []struct {
		name   string
		mutate func(*Enrollment)
		want   string
	}{
		{"no PK", func(e *Enrollment) { e.PK = nil }, "no PK"},
		{"no db", func(e *Enrollment) { e.DB = nil }, "at least one KEK and one db"},
		{"no time", func(e *Enrollment) { e.Time = time.Time{} }, "Time must be set"},
		{"year 1", func(e *Enrollment) { e.Time = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Second) }, "outside EFI_TIME"},
		{"mixed dbx sizes", func(e *Enrollment) {
			e.DBX = []SignatureList{{Type: CertSHA256, Signatures: []Signature{{Data: make([]byte, 32)}, {Data: make([]byte, 20)}}}}
		}, "one list holds one size"},
	}
	im := mustParse(t, smallImage())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := good
			tt.mutate(&e)
			if _, err := im.Enroll(e); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Enroll() error = %v, want %q", err, tt.want)
			}
		})
	}
	// A store too small for the keys says so.
	if _, err := im.Enroll(good); err == nil || !strings.Contains(err.Error(), "do not fit") {
		t.Errorf("Enroll() into a 2 KiB store: %v, want a clear 'do not fit'", err)
	}
}

// TestSignatureListPeer compares the db variable's data with what efitools'
// cert-to-efi-sig-list makes of the same certificate and owner.
func TestSignatureListPeer(t *testing.T) {
	tool := testenv.Tool(t, "cert-to-efi-sig-list", "efitools")
	set := testKeys(t)
	dir := t.TempDir()
	if err := keys.Write(dir, set, false); err != nil {
		t.Fatal(err)
	}
	for _, r := range []keys.Role{keys.PK, keys.KEK, keys.DB} {
		esl := filepath.Join(dir, string(r)+".esl")
		_, crt := keys.Files(r)
		out, err := exec.Command(tool, "-g", set.Owner.String(), filepath.Join(dir, crt), esl).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", tool, err, out)
		}
		want, err := os.ReadFile(esl)
		if err != nil {
			t.Fatal(err)
		}
		got, err := MarshalSignatureLists([]SignatureList{X509List(set.Owner, set.Get(r).Cert)})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: our signature list differs from cert-to-efi-sig-list's:\n got %x\nwant %x", r, got[:48], want[:min(48, len(want))])
		}
	}
}

func TestEnrollFile(t *testing.T) {
	testenv.File(t, ovmfTemplate, "ovmf")
	dir := t.TempDir()
	out := filepath.Join(dir, "OVMF_VARS.fd")
	if err := EnrollFile(ovmfTemplate, out, testEnrollment(t)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mustParse(t, b).Lookup(GlobalVariable, NamePK); !ok {
		t.Error("written file has no PK")
	}
	// A bad template leaves nothing behind.
	bad := filepath.Join(dir, "bad.fd")
	os.WriteFile(bad, []byte("not firmware"), 0o644)
	out2 := filepath.Join(dir, "out2.fd")
	if err := EnrollFile(bad, out2, testEnrollment(t)); err == nil || !strings.Contains(err.Error(), "not an edk2 variable store") {
		t.Errorf("EnrollFile(bad) = %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("directory holds %d entries after a failed enrollment, want 2", len(ents))
	}
}
