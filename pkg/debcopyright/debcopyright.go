// Package debcopyright reads the licenses out of a Debian package's
// machine-readable copyright file (usr/share/doc/<pkg>/copyright in the
// DEP-5 format, "copyright-format/1.0").
//
// Subset: the file is read as deb822 paragraphs; it counts as
// machine-readable when its first paragraph has a Format field. The
// licenses are the synopses (first lines) of the License fields of the
// header paragraph and of every Files paragraph, as written: Debian's short
// names ("GPL-2+", "Expat", "GPL-3+ or Apache-2.0"), which are often but not
// always SPDX identifiers. Stand-alone License paragraphs only hold the
// texts of names used elsewhere and are skipped. Free-form copyright files
// (no Format field) yield nothing.
package debcopyright

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
)

// Licenses returns the distinct license synopses of a DEP-5 copyright file
// in order of first appearance, and whether the file is machine-readable.
func Licenses(copyright []byte) ([]string, bool) {
	paras := paragraphs(copyright)
	if len(paras) == 0 || paras[0]["format"] == "" {
		return nil, false
	}
	var out []string
	for i, p := range paras {
		_, files := p["files"]
		if i > 0 && !files {
			continue
		}
		l, _, _ := strings.Cut(p["license"], "\n")
		if l = strings.Join(strings.Fields(l), " "); l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out, true
}

// paragraphs splits deb822 text into paragraphs of fields (names lower-cased,
// continuation lines joined with "\n"). Comment lines ("#") are skipped.
func paragraphs(b []byte) []map[string]string {
	var out []map[string]string
	var cur map[string]string
	last := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			cur, last = nil, ""
		case line[0] == '#':
		case line[0] == ' ' || line[0] == '\t':
			if cur != nil && last != "" {
				cur[last] += "\n" + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			if cur == nil {
				cur = map[string]string{}
				out = append(out, cur)
			}
			last = strings.ToLower(strings.TrimSpace(k))
			cur[last] = strings.TrimSpace(v)
		}
	}
	return out
}
