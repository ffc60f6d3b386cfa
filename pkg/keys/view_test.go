package keys

import (
	"strings"
	"testing"
)

func TestView(t *testing.T) {
	v := testSet.View("keys")
	if v.Dir != "keys" || v.Owner != testSet.Owner.String() || len(v.Keys) != len(Roles) {
		t.Fatalf("View = %+v", v)
	}
	tests := []struct {
		role      Role
		alg, file string
		subject   bool
	}{
		{PK, "RSA-2048", "pk.crt", true},
		{KEK, "RSA-2048", "kek.crt", true},
		{DB, "RSA-2048", "db.crt", true},
		{Admin, "ECDSA-P-256", "admin.crt", true},
		{Signing, "ECDSA-P-256", "signing.pub", false},
	}
	for i, tt := range tests {
		k := v.Keys[i]
		if k.Role != string(tt.role) || k.Algorithm != tt.alg || k.File != tt.file || (k.Subject != "") != tt.subject ||
			k.Fingerprint != testSet.Get(tt.role).Fingerprint() || k.Purpose != tt.role.Purpose() {
			t.Errorf("key %d = %+v, want role %s, %s in %s, subject %v", i, k, tt.role, tt.alg, tt.file, tt.subject)
		}
	}
	var b strings.Builder
	if err := v.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2+len(Roles) || !strings.HasPrefix(lines[0], "ROLE  ") || lines[len(lines)-1] != "owner GUID: "+v.Owner ||
		!strings.HasPrefix(lines[1], "pk       RSA-2048     "+v.Keys[0].Fingerprint) {
		t.Errorf("WriteText:\n%s", b.String())
	}
}
