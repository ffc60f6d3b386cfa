package deb822

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// write prints paragraphs in the syntax Reader reads, fields sorted by
// name: the other half of the round trip.
func write(paras []Paragraph) []byte {
	var b bytes.Buffer
	for _, p := range paras {
		names := make([]string, 0, len(p))
		for name := range p {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			first, rest, _ := strings.Cut(p[name], "\n")
			b.WriteString(name + ": " + first + "\n")
			for _, line := range strings.Split(rest, "\n") {
				if line != "" {
					b.WriteString(" " + line + "\n")
				}
			}
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

func readAll(data []byte) ([]Paragraph, error) {
	r := NewReader(bytes.NewReader(data), "fuzz")
	var paras []Paragraph
	for range len(data) + 2 {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			return paras, nil
		}
		if err != nil {
			return nil, err
		}
		paras = append(paras, p)
	}
	return nil, errors.New("more stanzas than there are bytes")
}

// FuzzReadWrite: Next always terminates, and whatever it reads, printed
// again, reads back the same.
func FuzzReadWrite(f *testing.F) {
	for _, s := range []string{
		"Package: a\nDescription: short\n long\n .\n more\n\nPackage: b\nVersion: 1\n",
		"# comment\nSuite: stable\nSHA256:\n " + strings.Repeat("a", 64) + " 12 main/binary-amd64/Packages\n",
		"Types: deb\nURIs: http://deb.debian.org/debian\n\n\n",
		" cont\n", "no colon\n", "A: 1\nA: 2\n", "A:\r\n\tb\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		paras, err := readAll(data)
		if err != nil {
			return
		}
		again, err := readAll(write(paras))
		if err != nil {
			t.Fatalf("reading %q back: %v", write(paras), err)
		}
		if diff := cmp.Diff(paras, again); diff != "" {
			t.Errorf("round trip diff (-first +second):\n%s", diff)
		}
	})
}
