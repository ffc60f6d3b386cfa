package debarchive

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.0", "1.1", -1},
		{"1.0~rc1", "1.0", -1},
		{"1.2.3~~", "1.2.3~", -1},
		{"1.0", "1.0-1", -1},
		{"1:0.1", "2.0", 1},
		{"1.0a", "1.0", 1},
		{"1.0+b1", "1.0", 1},
		{"1.0a", "1.0.1", -1},
		{"2.41-12", "2.36", 1},
		{"1.0-1~bpo1", "1.0-1", -1},
		{"0001", "1", 0},
		{"1.10", "1.9", 1},
		{"257.13-1~deb13u1", "257.13-1", -1},
		{"1:1.37.0-6+b9", "1:1.37.0-6", 1},
		{"6.12.117-1", "6.12.117-1", 0},
		{"1.0-a-1", "1.0-a", 1}, // the revision is after the last '-'
		{"99999999999999999999999999", "99999999999999999999999998", 1},
	}
	for _, tt := range tests {
		a, err := ParseVersion(tt.a)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseVersion(tt.b)
		if err != nil {
			t.Fatal(err)
		}
		if got := Compare(a, b); got != tt.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := Compare(b, a); got != -tt.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
	for _, bad := range []string{"", " 1.0", "a1.0", "1:", ":1.0", "x:1.0", "1.0-", "1.0_1", "1.0 2"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) succeeded", bad)
		}
	}
}

func TestParseRelations(t *testing.T) {
	v := func(s string) Version { x, _ := ParseVersion(s); return x }
	got, err := ParseRelations("libc6 (>= 2.36), mawk | awk, foo:any (<< 2:1.0-1~), bar (< 1), baz (> 2), qux (=1.0)")
	if err != nil {
		t.Fatal(err)
	}
	want := []Alternatives{
		{{Name: "libc6", Op: OpGE, Version: v("2.36")}},
		{{Name: "mawk"}, {Name: "awk"}},
		{{Name: "foo", ArchQ: "any", Op: OpLT, Version: v("2:1.0-1~")}},
		{{Name: "bar", Op: OpLE, Version: v("1")}},
		{{Name: "baz", Op: OpGE, Version: v("2")}},
		{{Name: "qux", Op: OpEQ, Version: v("1.0")}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseRelations diff (-want +got):\n%s", diff)
	}
	if s := got[2].String(); s != "foo:any (<< 2:1.0-1~)" {
		t.Errorf("String() = %q", s)
	}
	for _, bad := range []string{"libc6 (>= )", "libc6 (~ 1)", "Libc6", "a", "libc6 [amd64]", "libc6 (>= 1", "x:", "a,,b"} {
		if _, err := ParseRelations(bad); err == nil {
			t.Errorf("ParseRelations(%q) succeeded", bad)
		}
	}
	r := Relation{Name: "x", Op: OpLT, Version: v("2")}
	if !r.Satisfied(v("1.9")) || r.Satisfied(v("2")) {
		t.Errorf("<< 2 wrong")
	}
}
