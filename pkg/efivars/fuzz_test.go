package efivars

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse feeds arbitrary images to Parse; whatever it accepts must
// rebuild, and the rebuilt image must parse to the same variables
// (parse(write(x)) == x) and rebuild to the same bytes.
func FuzzParse(f *testing.F) {
	f.Add(smallImage())
	base := mustParse(f, smallImage())
	for _, vars := range [][]Variable{
		{{Name: "PK", GUID: GlobalVariable, Attributes: SecureBootAttributes, Time: Time{Year: 2026, Month: 1, Day: 1}, Data: []byte{1, 2, 3}}},
		{{Name: "a", GUID: GlobalVariable, Attributes: NonVolatile, Data: []byte{}}, {Name: "b", GUID: CustomModeEnable, Attributes: NonVolatile | BootServiceAccess, Data: []byte{0}}},
	} {
		b, err := base.Build(vars)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	withFTW := smallImage()
	writeFTWHeader(withFTW, 0xff&^7)
	f.Add(withFTW)
	f.Fuzz(func(t *testing.T, b []byte) {
		im, err := Parse(b)
		if err != nil {
			return
		}
		vars := im.Variables()
		for i := range vars {
			// Build refuses volatile variables; the firmware would not have written them.
			vars[i].Attributes |= NonVolatile
		}
		out, err := im.Build(vars)
		if err != nil {
			return // pending FTW write, or records that cannot be rewritten
		}
		re, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Build()) failed: %v", err)
		}
		if diff := cmp.Diff(vars, re.Variables()); diff != "" {
			t.Fatalf("parse(write(x)) != x (-want +got):\n%s", diff)
		}
		again, err := re.Build(re.Variables())
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("rebuilding is not stable: %v", err)
		}
	})
}

// FuzzSignatureLists checks that accepted signature-list data encodes
// back to the same bytes.
func FuzzSignatureLists(f *testing.F) {
	b, _ := MarshalSignatureLists([]SignatureList{SHA256List(GlobalVariable, [32]byte{1}, [32]byte{2})})
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		lists, err := ParseSignatureLists(b)
		if err != nil {
			return
		}
		out, err := MarshalSignatureLists(lists)
		if err != nil {
			t.Fatalf("Marshal(Parse(x)) failed: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("Marshal(Parse(x)) != x:\n got %x\nwant %x", out, b)
		}
	})
}
