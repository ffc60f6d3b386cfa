// Package epoch reads the one timestamp of a reproducible output: the
// SOURCE_DATE_EPOCH environment variable (decimal seconds since 1970, as
// reproducible-builds.org specifies it), an --epoch flag of the same form,
// and a --time flag that also takes RFC 3339. Nothing here reads the clock.
package epoch

import (
	"cmp"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Env is the environment variable that sets the epoch.
const Env = "SOURCE_DATE_EPOCH"

// Parse reads a SOURCE_DATE_EPOCH value: decimal seconds since 1970, not
// negative, spaces around allowed. The time is in UTC.
func Parse(s string) (time.Time, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("%s %q: want a non-negative number of seconds since 1970", Env, s)
	}
	return time.Unix(n, 0).UTC(), nil
}

// Flag returns the epoch an --epoch flag asks for: the flag's value, else
// $SOURCE_DATE_EPOCH, else 0 (1970-01-01).
func Flag(flag string) (time.Time, error) {
	s := cmp.Or(flag, os.Getenv(Env), "0")
	t, err := Parse(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--epoch/%s %q: %w", Env, s, err)
	}
	return t, nil
}

// ParseTime reads a --time value: RFC 3339 (2026-01-02T15:04:05Z), or @
// and a SOURCE_DATE_EPOCH value (@1767366245).
func ParseTime(s string) (time.Time, error) {
	if rest, ok := strings.CutPrefix(s, "@"); ok {
		return Parse(rest)
	}
	return time.Parse(time.RFC3339, s)
}
