package debarchive

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Paragraph is one deb822 stanza (a control file or a Packages entry):
// field names as written, continuation lines joined with "\n".
type Paragraph map[string]string

// ParagraphReader reads the stanzas of a deb822 file one at a time, so that
// a 60 MB Packages index never needs to be in memory whole as text.
type ParagraphReader struct {
	s    *bufio.Scanner
	name string
	line int
	// Keep, when set, limits the fields returned to these names: the rest
	// (long Descriptions, Maintainer, ...) are skipped without copying.
	Keep map[string]bool
}

// NewParagraphReader reads from r; name labels errors.
func NewParagraphReader(r io.Reader, name string) *ParagraphReader {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64<<10), 16<<20)
	return &ParagraphReader{s: s, name: name}
}

// Next returns the next stanza, or io.EOF after the last one.
func (p *ParagraphReader) Next() (Paragraph, error) {
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
			continue // deb822 comment (only in .sources files in practice)
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

func truncate(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
