// Package checklist is the outcome of a verification as a list of named
// checks, each passed, failed or skipped (a skip informs: it neither passes
// nor fails), and its rendering for a person, one line per check. Both
// verifications of hardenvm report with it: an image directory's
// (pkg/imagedir: a check per artifact) and a running VM's TPM evidence
// (pkg/attest: a check per PCR).
package checklist

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Status of one check.
type Status string

const (
	OK   Status = "ok"
	Fail Status = "FAIL"
	Skip Status = "skip"
)

// Check is the result of one check.
type Check struct {
	Name string `json:"check"`
	// Artifact is the file the check is about, when it is about one.
	Artifact string `json:"artifact,omitempty"`
	Status   Status `json:"status"`
	Detail   string `json:"detail"`
}

// Report is every check made on one subject.
type Report struct {
	// Dir is what was verified (an image directory), if the report
	// names it.
	Dir    string  `json:"dir"`
	OK     bool    `json:"ok"`
	Checks []Check `json:"checks"`
}

// ErrFailed is matched (errors.Is) by Report.Err's errors.
var ErrFailed = errors.New("verification failed")

// Add appends a check; OK follows the checks added so far.
func (r *Report) Add(name, artifact string, st Status, detail string) {
	r.Checks = append(r.Checks, Check{Name: name, Artifact: artifact, Status: st, Detail: detail})
	r.OK = len(r.Failed()) == 0
}

// Result appends a check that passed with detail ok when err is nil, and
// failed with err's text otherwise.
func (r *Report) Result(name, artifact string, err error, ok string) {
	if err != nil {
		r.Add(name, artifact, Fail, err.Error())
		return
	}
	r.Add(name, artifact, OK, ok)
}

// Failed returns the failed checks.
func (r *Report) Failed() []Check {
	var f []Check
	for _, c := range r.Checks {
		if c.Status == Fail {
			f = append(f, c)
		}
	}
	return f
}

// Err is nil when every check passed (or was skipped), and otherwise one
// line naming what failed (the artifacts, or the checks of a report about
// no artifact) and the first failure.
func (r *Report) Err() error {
	f := r.Failed()
	if len(f) == 0 {
		return nil
	}
	var names []string
	for _, c := range f {
		if !slices.Contains(names, c.subject()) {
			names = append(names, c.subject())
		}
	}
	first := f[0].Name
	if f[0].Artifact != "" {
		first = f[0].Artifact + " " + f[0].Name
	}
	dir := ""
	if r.Dir != "" {
		dir = r.Dir + ": "
	}
	return fmt.Errorf("%w: %s%s failed verification (%s: %s)",
		ErrFailed, dir, strings.Join(names, ", "), first, f[0].Detail)
}

func (c Check) subject() string {
	if c.Artifact != "" {
		return c.Artifact
	}
	return c.Name
}

// Print writes the report for a person: a line per check, its status,
// name, artifact (when the report names any) and detail.
func (r *Report) Print(w io.Writer) error {
	artifacts := slices.ContainsFunc(r.Checks, func(c Check) bool { return c.Artifact != "" })
	for _, c := range r.Checks {
		var err error
		if artifacts {
			_, err = fmt.Fprintf(w, "%-4s  %-12s  %-22s  %s\n", c.Status, c.Name, c.Artifact, c.Detail)
		} else {
			_, err = fmt.Fprintf(w, "%-4s  %-20s %s\n", c.Status, c.Name, c.Detail)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
