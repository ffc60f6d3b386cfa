// Package deb822 reads the paragraphs of Debian control files: a .deb's
// control member, Packages indexes, InRelease, apt's .sources files.
//
// It implements the subset those use: "Field: value" lines, continuation
// lines (leading white space trimmed, joined to the field's value with
// "\n"; a lone "." stays as written), "#" comment lines, and blank lines
// between paragraphs. It refuses a continuation line without a field, a
// line without a colon, and a field given twice in one paragraph. It does
// not strip OpenPGP armour (the caller verifies and strips InRelease), and
// it does not tell folded from multiline fields: that is the field's
// meaning, not its syntax.
package deb822

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Paragraph is one stanza (a control file or a Packages entry): field
// names as written, continuation lines joined with "\n".
type Paragraph map[string]string

// Reader reads the stanzas of a file one at a time, so that a 60 MB
// Packages index never needs to be in memory whole as text.
type Reader struct {
	s    *bufio.Scanner
	name string
	line int
	// Keep, when set, limits the fields returned to these names: the rest
	// (long Descriptions, Maintainer, ...) are skipped without copying.
	Keep map[string]bool
}

// NewReader reads from r; name labels errors.
func NewReader(r io.Reader, name string) *Reader {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64<<10), 16<<20)
	return &Reader{s: s, name: name}
}

// Next returns the next stanza, or io.EOF after the last one.
func (p *Reader) Next() (Paragraph, error) {
	var para Paragraph
	var last string
	skip := false // the current field is not kept
	for p.s.Scan() {
		p.line++
		line := p.s.Text()
		if strings.TrimSpace(line) == "" {
			if para != nil {
				return para, nil
			}
			continue
		}
		if line[0] == '#' {
			continue // a comment (only in .sources files in practice)
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last == "" {
				return nil, fmt.Errorf("%s:%d: continuation line without a field", p.name, p.line)
			}
			if !skip {
				para[last] += "\n" + strings.TrimSpace(line)
			}
			continue
		}
		i := strings.IndexByte(line, ':')
		if i <= 0 {
			return nil, fmt.Errorf("%s:%d: want \"Field: value\", got %q", p.name, p.line, truncate(line))
		}
		if para == nil {
			para = Paragraph{}
		}
		last = line[:i]
		if skip = p.Keep != nil && !p.Keep[last]; skip {
			continue
		}
		if _, dup := para[last]; dup {
			return nil, fmt.Errorf("%s:%d: field %s given twice in one stanza", p.name, p.line, last)
		}
		para[last] = strings.TrimSpace(line[i+1:])
	}
	if err := p.s.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", p.name, p.line, err)
	}
	if para != nil {
		return para, nil
	}
	return nil, io.EOF
}

// Line is the number of the last line Next read: after a stanza, the blank
// line that ended it (or the last line of the file).
func (p *Reader) Line() int { return p.line }

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
