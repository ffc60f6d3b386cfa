package provenance

import (
	"testing"
)

// FuzzParse: Parse never panics, and what it accepts names every subject
// with a SHA-256.
func FuzzParse(f *testing.F) {
	st, err := Statement(Input{Spec: Resource{Name: "s.yml", SHA256: sum([]byte("s"))}, Subjects: []Resource{{Name: "disk.raw", SHA256: sum([]byte("d"))}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(st)
	f.Add([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha1":"00"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse(b)
		if err != nil {
			return
		}
		for n, s := range p.Subjects {
			if n == "" || s == "" {
				t.Errorf("Parse() subject %q = %q", n, s)
			}
		}
	})
}
