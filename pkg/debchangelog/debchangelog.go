// Package debchangelog reads Debian changelogs (debian/changelog, shipped
// as /usr/share/doc/<pkg>/changelog.Debian.gz), for what a version update
// brings: which entries lie between two versions, their urgency, and the
// CVE ids they name.
//
// Subset of deb-changelog(5): entries of the form
//
//	source (version) dist [dist...]; urgency=u[, key=value...]
//
//	  * change details (any line starting with a space or tab, or blank)
//
//	 -- Maintainer Name <email>  date
//
// Lines starting with "#" between entries are skipped (dh_installchangelogs
// leaves "# Older entries have been removed from this changelog."), and
// reading stops cleanly at the markers that start free-form trailers
// ("Old Changelog:", Emacs "Local variables:", a vim modeline). Anything
// else is a *SyntaxError; the date is kept as written, not parsed. Debian
// trims old entries from the changelogs it ships, so the entries of a
// package are those of the last few years, not its whole history.
package debchangelog

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/hardenvm/hardenvm/pkg/debarchive"
)

// Entry is one changelog entry, newest first in a changelog.
type Entry struct {
	Source        string
	Version       string
	Distributions []string
	// Urgency is the urgency keyword's value, lower-cased ("low",
	// "medium", "high", "critical", "emergency"); empty when absent.
	Urgency string
	// CVEs are the CVE ids named in Body, each once, in order of first
	// appearance.
	CVEs []string
	// Keywords are the header's other key=value pairs (binary-only=yes
	// on a binNMU).
	Keywords map[string]string
	// Body is the change details as written, without the blank lines
	// around them.
	Body []string
	// Maintainer is "Name <email>" of the trailer line, Date its date
	// (RFC 5322 by convention).
	Maintainer string
	Date       string
}

// SyntaxError is a line Parse does not understand.
type SyntaxError struct {
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("changelog line %d: %s", e.Line, e.Msg) }

var (
	headerRE  = regexp.MustCompile(`^(\w[-+0-9a-z.]*) \(([^() \t]+)\)((?:[ \t]+[-+0-9A-Za-z.]+)+);(.*)$`)
	keywordRE = regexp.MustCompile(`^([-0-9A-Za-z]+)=(.*)$`)
	trailerRE = regexp.MustCompile(`^ -- (.*<[^<>]*>)[ \t]+([^<>]*[^<> \t])[ \t]*$`)
	endRE     = regexp.MustCompile(`^(?i)(old changelog:|(;;[ \t]*)?local variables:|vim:)`)
	cveRE     = regexp.MustCompile(`CVE-\d{4}-\d{4,}`)
)

// maxLine bounds one line; kernel changelogs have long ones, none this long.
const maxLine = 1 << 20

// Parse reads a changelog. On a *SyntaxError it returns the entries before
// the bad line too, so one malformed old entry does not hide the new ones.
func Parse(r io.Reader) ([]Entry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, maxLine)
	var entries []Entry
	var cur *Entry
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSuffix(sc.Text(), "\r")
		blank := strings.TrimSpace(line) == ""
		if cur == nil {
			switch {
			case blank || strings.HasPrefix(line, "#"):
				continue
			case endRE.MatchString(line):
				return entries, nil
			}
			e, err := parseHeader(line)
			if err != nil {
				return entries, &SyntaxError{Line: n, Msg: err.Error()}
			}
			cur = e
			continue
		}
		if m := trailerRE.FindStringSubmatch(line); m != nil {
			cur.Maintainer, cur.Date = m[1], m[2]
			finish(cur)
			entries = append(entries, *cur)
			cur = nil
			continue
		}
		switch {
		case blank:
			cur.Body = append(cur.Body, "")
		case line[0] == ' ' || line[0] == '\t':
			if strings.HasPrefix(line, " --") {
				return entries, &SyntaxError{Line: n, Msg: fmt.Sprintf("malformed trailer line of %s %s %q (want \" -- Name <email>  date\")", cur.Source, cur.Version, line)}
			}
			cur.Body = append(cur.Body, line)
		default:
			return entries, &SyntaxError{Line: n, Msg: fmt.Sprintf("entry %s %s has no trailer line before %q", cur.Source, cur.Version, line)}
		}
	}
	if err := sc.Err(); err != nil {
		return entries, fmt.Errorf("changelog line %d: %w", n+1, err)
	}
	if cur != nil {
		return entries, &SyntaxError{Line: n, Msg: fmt.Sprintf("entry %s %s has no trailer line", cur.Source, cur.Version)}
	}
	return entries, nil
}

func parseHeader(line string) (*Entry, error) {
	m := headerRE.FindStringSubmatch(line)
	if m == nil {
		return nil, fmt.Errorf("not an entry header %q (want \"source (version) distribution; urgency=...\")", line)
	}
	e := &Entry{Source: m[1], Version: m[2], Distributions: strings.Fields(m[3])}
	for kw := range strings.SplitSeq(m[4], ",") {
		kw = strings.TrimSpace(kw)
		if kw == "" {
			continue
		}
		k := keywordRE.FindStringSubmatch(kw)
		if k == nil || strings.TrimSpace(k[2]) == "" {
			return nil, fmt.Errorf("entry %s %s: keyword %q is not key=value", e.Source, e.Version, kw)
		}
		key, val := strings.ToLower(k[1]), strings.TrimSpace(k[2])
		if key == "urgency" {
			e.Urgency = strings.ToLower(val)
			continue
		}
		if e.Keywords == nil {
			e.Keywords = map[string]string{}
		}
		e.Keywords[key] = val
	}
	return e, nil
}

// finish trims the blank lines around the body and collects its CVE ids.
func finish(e *Entry) {
	for len(e.Body) > 0 && e.Body[0] == "" {
		e.Body = e.Body[1:]
	}
	for len(e.Body) > 0 && e.Body[len(e.Body)-1] == "" {
		e.Body = e.Body[:len(e.Body)-1]
	}
	if len(e.Body) == 0 {
		e.Body = nil
	}
	for _, l := range e.Body {
		for _, id := range cveRE.FindAllString(l, -1) {
			if !slices.Contains(e.CVEs, id) {
				e.CVEs = append(e.CVEs, id)
			}
		}
	}
}

// Between returns the entries whose version is strictly newer than older
// and not newer than newer, in the changelog's order (newest first): what
// upgrading from older to newer brings. An empty bound is open. Versions
// are compared as dpkg compares them (debarchive.Compare); an entry whose version
// does not parse is left out, and a bound that does not parse matches
// nothing.
//
// The bounds are changelog (source) versions. A binary package's own
// version can differ: a binNMU adds +bN (its changelog.Debian.<arch>.gz
// entry has it too), and the signed kernel image linux-image-6.12.117+deb13-
// cloud-amd64 6.12.117-1 ships the changelog of linux-signed-amd64, whose
// newest entry is 6.12.117+1, which sorts after 6.12.117-1. The robust
// bounds for an upgrade are the newest entries of the old and the new
// package's changelogs.
func Between(entries []Entry, older, newer string) []Entry {
	lo, errLo := bound(older)
	hi, errHi := bound(newer)
	if errLo != nil || errHi != nil {
		return nil
	}
	var out []Entry
	for _, e := range entries {
		v, err := debarchive.ParseVersion(e.Version)
		if err != nil {
			continue
		}
		if (lo == nil || debarchive.Compare(v, *lo) > 0) && (hi == nil || debarchive.Compare(v, *hi) <= 0) {
			out = append(out, e)
		}
	}
	return out
}

func bound(s string) (*debarchive.Version, error) {
	if s == "" {
		return nil, nil
	}
	v, err := debarchive.ParseVersion(s)
	return &v, err
}

// CVEs returns the CVE ids the entries name, each once, sorted.
func CVEs(entries []Entry) []string {
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.CVEs...)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}
