package deb822

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReader(t *testing.T) {
	in := "# comment\nPackage: a\nDescription: short\n long\n .\n more\n\n\n\nPackage: b\nVersion: 1\n"
	pr := NewReader(strings.NewReader(in), "x")
	var got []Paragraph
	for {
		p, err := pr.Next()
		if err != nil {
			break
		}
		got = append(got, p)
	}
	want := []Paragraph{{"Package": "a", "Description": "short\nlong\n.\nmore"}, {"Package": "b", "Version": "1"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paragraphs diff (-want +got):\n%s", diff)
	}
	for _, bad := range []string{" cont\n", "no colon\n", "A: 1\nA: 2\n"} {
		if _, err := NewReader(strings.NewReader(bad), "x").Next(); err == nil {
			t.Errorf("Next(%q) succeeded", bad)
		}
	}
}
