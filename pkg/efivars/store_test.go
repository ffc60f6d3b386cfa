package efivars

import (
	"bytes"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hardenvm/hardenvm/pkg/gpt"
)

func TestParseDebianTemplate(t *testing.T) {
	b := readOVMF(t, ovmfTemplate)
	im := mustParse(t, b)
	if len(im.Records) != 0 {
		t.Errorf("template has %d variable records, want none", len(im.Records))
	}
	// OVMF 4M: 0x40000 of variable store behind a 0x48-byte volume
	// header, FTW working block at 0x41000 with a 0xfe0-byte queue.
	got := [...]int{im.FVHeaderSize, im.StoreOffset, im.StoreSize, im.UsedEnd, int(im.FVLength), im.FTW.Offset, im.FTW.QueueSize, im.FTW.Writes}
	want := [...]int{0x48, 0x48, 0x3ffb8, 0x64, len(b), 0x41000, 0xfe0, 0}
	if got != want {
		t.Errorf("layout %#x, want %#x", got, want)
	}
	if im.Dirty || im.FTW.Pending {
		t.Errorf("dirty=%v pending=%v, want a clean template", im.Dirty, im.FTW.Pending)
	}
}

// TestParseFirmwareWritten reads a store the firmware itself wrote
// (Debian made OVMF_VARS_4M.ms.fd by booting OVMF and enrolling keys from
// inside it), with superseded and deleted records.
func TestParseFirmwareWritten(t *testing.T) {
	im := mustParse(t, readOVMF(t, ovmfMS))
	vars := im.Variables()
	if len(vars) >= len(im.Records) {
		t.Errorf("%d live variables of %d records: expected the firmware to have left deleted records", len(vars), len(im.Records))
	}
	deleted := 0
	for _, r := range im.Records {
		if r.State == StateDeleted {
			deleted++
		}
	}
	if deleted == 0 {
		t.Error("no deleted records found")
	}
	seen := map[string]bool{}
	for _, v := range vars {
		if seen[v.Key()] {
			t.Errorf("%s listed twice", v.Key())
		}
		seen[v.Key()] = true
	}
	if v, ok := im.Lookup(SecureBootEnableDisable, NameSecureBootEnable); !ok || !bytes.Equal(v.Data, []byte{1}) {
		t.Errorf("SecureBootEnable = %v (found %v), want [1]", v.Data, ok)
	}
	for _, sb := range []struct {
		guid gpt.GUID
		name string
	}{{GlobalVariable, NamePK}, {GlobalVariable, NameKEK}, {ImageSecurityDatabase, NameDB}} {
		v, ok := im.Lookup(sb.guid, sb.name)
		if !ok {
			t.Errorf("%s missing", sb.name)
			continue
		}
		if v.Attributes != SecureBootAttributes || v.Time.IsZero() {
			t.Errorf("%s: attributes %s time %s, want %s and a timestamp", sb.name, v.Attributes, v.Time, SecureBootAttributes)
		}
		lists, err := ParseSignatureLists(v.Data)
		if err != nil {
			t.Fatalf("%s: %v", sb.name, err)
		}
		for _, l := range lists {
			if l.Type != CertX509 {
				t.Errorf("%s: list type %s", sb.name, GUIDName(l.Type))
				continue
			}
			if _, err := x509.ParseCertificate(l.Signatures[0].Data); err != nil {
				t.Errorf("%s: %v", sb.name, err)
			}
		}
	}
	// Rebuilding keeps every variable and compacts the store.
	out, err := im.Build(vars)
	if err != nil {
		t.Fatal(err)
	}
	re := mustParse(t, out)
	if diff := cmp.Diff(vars, re.Variables()); diff != "" {
		t.Errorf("rebuilt store differs (-want +got):\n%s", diff)
	}
	if re.UsedEnd >= im.UsedEnd || len(re.Records) != len(vars) {
		t.Errorf("rebuilt store uses %#x in %d records, was %#x: want it compacted", re.UsedEnd, len(re.Records), im.UsedEnd)
	}
}

func TestRoundTrip(t *testing.T) {
	ts := Time{Year: 2026, Month: 11, Day: 27, Hour: 11, Minute: 35}
	tests := []struct {
		name string
		vars []Variable
	}{
		{"empty", nil},
		{"one", []Variable{{Name: "Boot0000", GUID: GlobalVariable, Attributes: NonVolatile | BootServiceAccess | RuntimeAccess, Data: []byte{1, 0, 0, 0}}}},
		{"alignment", []Variable{
			{Name: "A", GUID: GlobalVariable, Attributes: NonVolatile, Data: []byte{1}},
			{Name: "BB", GUID: GlobalVariable, Attributes: NonVolatile, Data: []byte{1, 2, 3}},
			{Name: "CCC", GUID: GlobalVariable, Attributes: NonVolatile, Data: []byte{}},
			{Name: "A", GUID: ImageSecurityDatabase, Attributes: NonVolatile, Data: bytes.Repeat([]byte{0xff}, 7)},
		}},
		{"authenticated fields", []Variable{{Name: "db", GUID: ImageSecurityDatabase, Attributes: SecureBootAttributes,
			MonotonicCount: 1<<40 + 3, Time: ts, PubKeyIndex: 7, Data: []byte("siglists")}}},
		{"full EFI_TIME", []Variable{{Name: "t", GUID: CustomModeEnable, Attributes: NonVolatile,
			Time: Time{Year: 1999, Month: 12, Day: 31, Hour: 23, Minute: 59, Second: 59, Pad1: 1, Nanosecond: 999999999, TimeZone: -60, Daylight: 3, Pad2: 4}, Data: []byte{}}}},
		{"unicode names", []Variable{
			{Name: "Zürich", GUID: GlobalVariable, Attributes: NonVolatile, Data: []byte("x")},
			{Name: "😀 surrogates", GUID: GlobalVariable, Attributes: NonVolatile, Data: []byte("y")},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := mustParse(t, smallImage())
			out, err := base.Build(tt.vars)
			if err != nil {
				t.Fatal(err)
			}
			im := mustParse(t, out)
			if diff := cmp.Diff(tt.vars, im.Variables()); diff != "" {
				t.Errorf("Parse(Build(x)) != x (-want +got):\n%s", diff)
			}
			if im.Dirty {
				t.Error("free space after the variables is not erased")
			}
			again, err := im.Build(im.Variables())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, out) {
				t.Error("Build(Parse(Build(x))) is not byte-identical to Build(x)")
			}
			// Outside the variable region nothing changes.
			orig := smallImage()
			first := base.firstRecord()
			if !bytes.Equal(out[:first], orig[:first]) || !bytes.Equal(out[base.storeEnd():], orig[base.storeEnd():]) {
				t.Error("Build changed bytes outside the variable region")
			}
		})
	}
}

// TestRecordLayout pins the bytes of one record against edk2's
// AUTHENTICATED_VARIABLE_HEADER, field by field.
func TestRecordLayout(t *testing.T) {
	v := Variable{Name: "PK", GUID: GlobalVariable, Attributes: SecureBootAttributes, MonotonicCount: 0x0102030405060708,
		Time: Time{Year: 2026, Month: 11, Day: 27, Hour: 1, Minute: 2, Second: 3}, PubKeyIndex: 9, Data: []byte{0xaa, 0xbb, 0xcc}}
	rec, err := v.record()
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	checks := []struct {
		field     string
		got, want uint64
	}{
		{"StartId", uint64(le.Uint16(rec[0:])), 0x55aa},
		{"State", uint64(rec[2]), 0x3f},
		{"Reserved", uint64(rec[3]), 0},
		{"Attributes", uint64(le.Uint32(rec[4:])), 0x27},
		{"MonotonicCount", le.Uint64(rec[8:]), 0x0102030405060708},
		{"TimeStamp.Year", uint64(le.Uint16(rec[16:])), 2026},
		{"TimeStamp.Month", uint64(rec[18]), 11},
		{"TimeStamp.Second", uint64(rec[22]), 3},
		{"PubKeyIndex", uint64(le.Uint32(rec[32:])), 9},
		{"NameSize", uint64(le.Uint32(rec[36:])), 6},
		{"DataSize", uint64(le.Uint32(rec[40:])), 3},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.field, c.got, c.want)
		}
	}
	if !bytes.Equal(rec[44:60], gpt.AppendGUID(nil, GlobalVariable)) {
		t.Errorf("VendorGuid = %x", rec[44:60])
	}
	if want := []byte{'P', 0, 'K', 0, 0, 0, 0xaa, 0xbb, 0xcc}; !bytes.Equal(rec[60:], want) {
		t.Errorf("name and data = %x, want %x", rec[60:], want)
	}
}

func TestLiveResolution(t *testing.T) {
	v := func(name string, data byte) Variable {
		return Variable{Name: name, GUID: GlobalVariable, Attributes: NonVolatile, Data: []byte{data}}
	}
	// Records in store order, with the state each is given.
	recs := []struct {
		v     Variable
		state uint8
	}{
		{v("O", 1), StateDeleted}, // old
		{v("O", 2), StateAdded},
		{v("M", 1), StateInDeletedTransition}, // moving
		{v("M", 2), StateAdded},
		{v("C", 1), StateInDeletedTransition}, // cut short
		{v("C", 2), StateHeaderValidOnly},
		{v("G", 1), StateDeleted}, // gone
	}
	// Write each record by hand with its state.
	im := mustParse(t, smallImage())
	var raw []byte
	raw = append(raw, smallImage()...)
	off := im.firstRecord()
	for _, r := range recs {
		rec, err := r.v.record()
		if err != nil {
			t.Fatal(err)
		}
		rec[2] = r.state
		copy(raw[off:], rec)
		off = align4(off + len(rec))
	}
	parsed := mustParse(t, raw)
	if len(parsed.Records) != len(recs) {
		t.Fatalf("%d records, want %d", len(parsed.Records), len(recs))
	}
	want := []Variable{v("O", 2), v("M", 2), v("C", 1)}
	if diff := cmp.Diff(want, parsed.Variables()); diff != "" {
		t.Errorf("live variables (-want +got):\n%s", diff)
	}
}

func TestBuildErrors(t *testing.T) {
	nv := NonVolatile | BootServiceAccess
	tests := []struct {
		name    string
		vars    []Variable
		wantErr error
		want    string
	}{
		{"store full", []Variable{{Name: "big", GUID: GlobalVariable, Attributes: nv, Data: make([]byte, smallStore)}}, ErrStoreFull, "do not fit"},
		{"twice", []Variable{{Name: "a", GUID: GlobalVariable, Attributes: nv}, {Name: "a", GUID: GlobalVariable, Attributes: nv}}, nil, "given twice"},
		{"volatile", []Variable{{Name: "a", GUID: GlobalVariable, Attributes: BootServiceAccess}}, nil, "not non-volatile"},
		{"empty name", []Variable{{GUID: GlobalVariable, Attributes: nv}}, nil, "empty variable name"},
		{"NUL in name", []Variable{{Name: "a\x00b", GUID: GlobalVariable, Attributes: nv}}, nil, "contains NUL"},
		{"invalid UTF-8 name", []Variable{{Name: "a\xffb", GUID: GlobalVariable, Attributes: nv}}, nil, "not valid Unicode"},
	}
	im := mustParse(t, smallImage())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := im.Build(tt.vars)
			if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("Build() error = %v, want %q", err, tt.want)
			}
		})
	}
}

// writeFTWHeader puts one EFI_FAULT_TOLERANT_WRITE_HEADER with the given
// state byte and one write record into the working block's queue.
func writeFTWHeader(b []byte, state uint8) {
	q := b[smallFTW+ftwHeaderSize:]
	q[0] = state
	binary.LittleEndian.PutUint64(q[24:], 1) // NumberOfWrites
	binary.LittleEndian.PutUint64(q[32:], 0) // PrivateDataSize
	q[ftwWriteHeader] = 0xff &^ 1            // a record: BootBlockUpdate only
}

func TestFTW(t *testing.T) {
	tests := []struct {
		name    string
		state   uint8
		writes  int
		pending bool
	}{
		{"empty queue", 0xff, 0, false},
		{"header allocated", 0xff &^ 1, 1, true},
		{"writes allocated", 0xff &^ 3, 1, true},
		{"complete", 0xff &^ 7, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := smallImage()
			if tt.state != 0xff {
				writeFTWHeader(b, tt.state)
			}
			im := mustParse(t, b)
			if im.FTW == nil || im.FTW.Writes != tt.writes || im.FTW.Pending != tt.pending {
				t.Fatalf("FTW = %+v, want %d writes, pending %v", im.FTW, tt.writes, tt.pending)
			}
			_, err := im.Build(nil)
			if tt.pending != errors.Is(err, ErrPendingWrite) {
				t.Errorf("Build() error = %v, pending %v", err, tt.pending)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	le := binary.LittleEndian
	rec := func(b []byte) []byte {
		im := mustParse(t, b)
		out, err := im.Build([]Variable{{Name: "PK", GUID: GlobalVariable, Attributes: NonVolatile, Data: []byte{1, 2, 3}}})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tests := []struct {
		name    string
		mutate  func([]byte) []byte
		wantErr error
		want    string
	}{
		{"truncated", func(b []byte) []byte { return b[:0x40] }, ErrNotVariableStore, "too small"},
		{"short of its length", func(b []byte) []byte { return b[:len(b)-1] }, nil, "firmware volume length"},
		{"no _FVH", func(b []byte) []byte { b[0x28] = 'X'; return b }, ErrNotVariableStore, "_FVH"},
		{"other volume", func(b []byte) []byte { b[0x10] ^= 1; return b }, ErrNotVariableStore, "EFI_SYSTEM_NV_DATA_FV_GUID"},
		{"checksum", func(b []byte) []byte { b[0x3c] ^= 1; return b }, nil, "checksum"},
		{"plain store", func(b []byte) []byte { copy(b[0x48:], gpt.AppendGUID(nil, PlainVariable)); return b }, ErrNotVariableStore, "not a Secure Boot build"},
		{"unhealthy store", func(b []byte) []byte { b[0x48+21] = 0xff; return b }, nil, "healthy"},
		{"store too large", func(b []byte) []byte { le.PutUint32(b[0x48+16:], 0x10000); return b }, nil, "does not fit"},
		{"variable past the end", func(b []byte) []byte { b = rec(b); le.PutUint32(b[0x64+40:], 0x10000); return b }, nil, "run past the store end"},
		{"odd name size", func(b []byte) []byte { b = rec(b); le.PutUint32(b[0x64+36:], 5); return b }, nil, "name size 5"},
		{"unterminated name", func(b []byte) []byte { b = rec(b); b[0x64+60+4] = 'X'; return b }, nil, "not NUL-terminated"},
		{"FTW CRC", func(b []byte) []byte { b[smallFTW+24] ^= 1; return b }, nil, "CRC"},
		{"FTW invalid", func(b []byte) []byte { b[smallFTW+20] = 0xfc; return b }, nil, "not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.mutate(smallImage()))
			if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("Parse() error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDirty(t *testing.T) {
	b := smallImage()
	b[smallStore-1] = 0
	if im := mustParse(t, b); !im.Dirty {
		t.Error("a non-erased byte in the free space was not noticed")
	}
}
