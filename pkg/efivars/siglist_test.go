package efivars

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hardenvm/hardenvm/pkg/gpt"
)

func TestGUID(t *testing.T) {
	// EFI_GLOBAL_VARIABLE as edk2 lays it out in memory.
	want := []byte{0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c}
	if got := gpt.AppendGUID(nil, GlobalVariable); !bytes.Equal(got, want) {
		t.Errorf("GlobalVariable = %x, want %x", got, want)
	}
	if s := GlobalVariable.String(); s != "8be4df61-93ca-11d2-aa0d-00e098032b8c" {
		t.Errorf("String() = %s", s)
	}
	tests := []struct {
		guid gpt.GUID
		want string
	}{
		{GlobalVariable, "EfiGlobalVariable"},
		{CertX509, "EfiCertX509"},
		{SystemNVDataFV, "fff12b8d-7696-4c8b-a985-2747075b4f50"},
	}
	for _, tt := range tests {
		if got := GUIDName(tt.guid); got != tt.want {
			t.Errorf("GUIDName(%s) = %s, want %s", tt.guid, got, tt.want)
		}
	}
}

func TestTimeOf(t *testing.T) {
	got, err := TimeOf(time.Date(2026, 11, 27, 13, 4, 5, 999, time.FixedZone("X", 3600)))
	if err != nil {
		t.Fatal(err)
	}
	want := Time{Year: 2026, Month: 11, Day: 27, Hour: 12, Minute: 4, Second: 5}
	if got != want {
		t.Errorf("TimeOf() = %+v, want %+v (UTC, no nanoseconds)", got, want)
	}
	if s := got.String(); s != "2026-11-27T12:04:05Z" {
		t.Errorf("String() = %s", s)
	}
}

func TestAttributesString(t *testing.T) {
	for a, want := range map[Attributes]string{0: "0x0", 0x27: "NV|BS|RT|AT", 0x103: "NV|BS|0x100"} {
		if got := a.String(); got != want {
			t.Errorf("%#x.String() = %s, want %s", uint32(a), got, want)
		}
	}
}

func TestSignatureListsRoundTrip(t *testing.T) {
	owner := gpt.MustParseGUID("11111111-2222-3333-4444-555555555555")
	lists := []SignatureList{
		SHA256List(owner, [32]byte{1}, [32]byte{2}, [32]byte{3}),
		{Type: gpt.MustParseGUID("01020304-0506-0708-090a-0b0c0d0e0f10"), Header: []byte{9, 9}, Signatures: []Signature{{Owner: owner, Data: []byte{}}}},
	}
	b, err := MarshalSignatureLists(lists)
	if err != nil {
		t.Fatal(err)
	}
	if want := 28 + 3*48 + 28 + 2 + 16; len(b) != want {
		t.Errorf("encoded %d bytes, want %d", len(b), want)
	}
	got, err := ParseSignatureLists(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(lists, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestParseSignatureListsErrors(t *testing.T) {
	good, _ := MarshalSignatureLists([]SignatureList{SHA256List(gpt.GUID{}, [32]byte{})})
	le := binary.LittleEndian
	tests := []struct {
		name   string
		mutate func([]byte) []byte
		want   string
	}{
		{"short header", func(b []byte) []byte { return b[:27] }, "a list header needs 28"},
		{"list past the end", func(b []byte) []byte { return b[:len(b)-1] }, "only 75 bytes left"},
		{"header too big", func(b []byte) []byte { le.PutUint32(b[20:], 100); return b }, "header size 100"},
		{"signature smaller than owner", func(b []byte) []byte { le.PutUint32(b[24:], 15); return b }, "smaller than its owner"},
		{"not a multiple", func(b []byte) []byte { le.PutUint32(b[24:], 47); return b }, "not a multiple"},
		{"no signatures", func(b []byte) []byte { le.PutUint32(b[16:], 28); return b[:28] }, "no signatures"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.mutate(append([]byte{}, good...))
			if _, err := ParseSignatureLists(b); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestVariableData(t *testing.T) {
	got := VariableData("db", ImageSecurityDatabase, []byte{0xaa})
	want := append(gpt.AppendGUID(nil, ImageSecurityDatabase),
		2, 0, 0, 0, 0, 0, 0, 0, // name length in characters
		1, 0, 0, 0, 0, 0, 0, 0, // data length
		'd', 0, 'b', 0, 0xaa)
	if !cmp.Equal(got, want) {
		t.Errorf("VariableData = %x, want %x", got, want)
	}
	if got := VariableData("dbx", ImageSecurityDatabase, nil); len(got) != 16+8+8+6 {
		t.Errorf("absent dbx: %d bytes", len(got))
	}
}

func TestPolicyEvents(t *testing.T) {
	e := testEnrollment(t)
	im := mustParse(t, readOVMF(t, ovmfTemplate))
	if im.SecureBootEnabled() {
		t.Error("template (no PK): SecureBoot on")
	}
	if ev := im.PolicyEvents(); len(ev) != 5 || !cmp.Equal(ev[0], VariableData("SecureBoot", GlobalVariable, []byte{0})) ||
		!cmp.Equal(ev[1], VariableData("PK", GlobalVariable, nil)) {
		t.Errorf("template policy events %x", ev)
	}
	out, err := im.Enroll(e)
	if err != nil {
		t.Fatal(err)
	}
	en := mustParse(t, out)
	if !en.SecureBootEnabled() {
		t.Error("enrolled store: SecureBoot off")
	}
	pk, _ := en.Lookup(GlobalVariable, NamePK)
	ev := en.PolicyEvents()
	if len(ev) != 5 || ev[0][len(ev[0])-1] != 1 || !bytes.HasSuffix(ev[1], pk.Data) || !bytes.HasSuffix(ev[4], []byte{'d', 0, 'b', 0, 'x', 0}) {
		t.Errorf("enrolled policy events %x", ev)
	}
	a := AuthorityEvent(e.Owner, e.DB[0].Raw)
	if !bytes.HasSuffix(a, append(gpt.AppendGUID(nil, e.Owner), e.DB[0].Raw...)) || !bytes.HasPrefix(a, gpt.AppendGUID(nil, ImageSecurityDatabase)) {
		t.Errorf("authority event %x", a[:64])
	}
	// SecureBootEnable=0 turns it off although a PK exists.
	vars := en.Variables()
	for i := range vars {
		if vars[i].Name == NameSecureBootEnable {
			vars[i].Data = []byte{0}
		}
	}
	off, err := en.Build(vars)
	if err != nil {
		t.Fatal(err)
	}
	if mustParse(t, off).SecureBootEnabled() {
		t.Error("SecureBootEnable=0: SecureBoot on")
	}
}
