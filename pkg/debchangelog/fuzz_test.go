package debchangelog

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// format writes entries back in the layout Parse reads.
func format(entries []Entry) []byte {
	var b bytes.Buffer
	for _, e := range entries {
		kws := []string{}
		if e.Urgency != "" {
			kws = append(kws, "urgency="+e.Urgency)
		}
		for _, k := range slices.Sorted(maps.Keys(e.Keywords)) {
			kws = append(kws, k+"="+e.Keywords[k])
		}
		fmt.Fprintf(&b, "%s (%s) %s; %s\n\n", e.Source, e.Version, strings.Join(e.Distributions, " "), strings.Join(kws, ", "))
		for _, l := range e.Body {
			b.WriteString(l + "\n")
		}
		fmt.Fprintf(&b, "\n -- %s  %s\n\n", e.Maintainer, e.Date)
	}
	return b.Bytes()
}

// FuzzParse checks that what Parse accepts, written back, parses to the
// same entries, and that Between never returns more than it was given.
func FuzzParse(f *testing.F) {
	real, err := os.ReadFile("testdata/runc.changelog")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real, "1.1.4+ds1-1", "1.1.5+ds1-1+deb12u1")
	f.Add([]byte(binNMU), "", "")
	f.Add([]byte("a (1) x; urgency=low\n\n -- <>  d\nOld Changelog:\n"), "0", "1")
	f.Fuzz(func(t *testing.T, in []byte, older, newer string) {
		entries, err := Parse(bytes.NewReader(in))
		if err != nil {
			return
		}
		again, err := Parse(bytes.NewReader(format(entries)))
		if err != nil {
			t.Fatalf("Parse(format(entries)): %v\n%s", err, format(entries))
		}
		if diff := cmp.Diff(entries, again); diff != "" {
			t.Errorf("round trip diff (-first +again):\n%s", diff)
		}
		if got := Between(entries, older, newer); len(got) > len(entries) {
			t.Errorf("Between() = %d entries of %d", len(got), len(entries))
		}
	})
}
