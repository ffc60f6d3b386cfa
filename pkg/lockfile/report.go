package lockfile

import (
	"cmp"
	"fmt"
	"io"
	"strings"

	"github.com/hardenvm/hardenvm/pkg/imagespec"
)

// Report is the JSON form of an Update (`hardenvm lock --json`).
type Report struct {
	Path    string          `json:"path"`
	Written bool            `json:"written"`
	Lock    *imagespec.Lock `json:"lock"`
	Changes []ChangeReport  `json:"changes"`
}

// ChangeReport is the JSON form of a Change.
type ChangeReport struct {
	Name       string   `json:"name"`
	OldVersion string   `json:"oldVersion,omitempty"`
	NewVersion string   `json:"newVersion,omitempty"`
	Suite      string   `json:"suite,omitempty"`
	Security   bool     `json:"security"`
	CVEs       []string `json:"cves"`
	Urgency    []string `json:"urgency"` // of each changelog entry, newest first
	Note       string   `json:"note,omitempty"`
}

// Report describes u for programs; lists are empty, never null.
func (u *Update) Report() Report {
	r := Report{Path: u.Path, Written: u.Written, Lock: u.New, Changes: []ChangeReport{}}
	for _, c := range u.Changes {
		cr := ChangeReport{Name: c.Name, Security: c.Security(), CVEs: c.CVEs(), Urgency: []string{}, Note: c.Note}
		if cr.CVEs == nil {
			cr.CVEs = []string{}
		}
		for _, e := range c.Entries {
			cr.Urgency = append(cr.Urgency, e.Urgency)
		}
		if c.Old != nil {
			cr.OldVersion = c.Old.Version
		}
		if c.New != nil {
			cr.NewVersion, cr.Suite = c.New.Version, c.New.Suite
		}
		r.Changes = append(r.Changes, cr)
	}
	return r
}

// WriteText prints u for people: a line that says what became of the lock
// file (check says whether it was only checked) and what it pins, then
// each change, security updates marked "!", with the CVEs its changelog
// entries name.
func (u *Update) WriteText(w io.Writer, check bool) error {
	l := u.New
	k := l.Kernel[len(l.Kernel)-1]
	noun := "packages"
	if len(l.Packages) == 1 {
		noun = "package"
	}
	state := "unchanged"
	switch {
	case check && len(u.Changes) > 0:
		state = "not current"
	case check:
		state = "current"
	case u.Written:
		state = "written"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s; %s, %d %s, kernel %s %s, stub %s %s\n",
		u.Path, state, strings.Join(l.SuiteNames(), " "), len(l.Packages), noun, k.Name, k.Version, l.Stub.Name, l.Stub.Version)
	for _, c := range u.Changes {
		mark := " "
		if c.Security() {
			mark = "!"
		}
		fmt.Fprintf(&b, "%s %s\n", mark, c)
		for _, e := range c.Entries {
			what := "no CVE named"
			if len(e.CVEs) > 0 {
				what = strings.Join(e.CVEs, ", ")
			}
			fmt.Fprintf(&b, "    %s (urgency %s): %s\n", e.Version, cmp.Or(e.Urgency, "unknown"), what)
		}
		if c.Note != "" {
			fmt.Fprintf(&b, "    (%s)\n", c.Note)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
