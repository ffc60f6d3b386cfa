// Package attempts is the battery of escape attempts (which must fail) and
// of work (which must still succeed) run inside a container of the
// hardened runtime. It is built into the static hardenvm-attempts binary,
// which the host tests copy into a busybox rootfs and the VM tests run in
// a container of the real engine; each attempt prints one JSON line.
//
// Every payload is harmless even if the policy has a bug: sysrq gets "h"
// (print help), sysctls and cgroup files are written with the value they
// already hold, block devices are mounted read-only and unmounted, module
// loading is fed garbage that cannot load, handles are opened read-only,
// and a runtime binary is opened for writing but never written.
package attempts

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
)

// Result is the outcome of one attempt. OK says whether the attempted
// action succeeded: for an escape that is a failure of the runtime.
type Result struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Attempt is one entry of the battery.
type Attempt struct {
	Name   string
	Escape bool // true: must fail; false: must succeed
	// Internal attempts are helpers of others, not run by default.
	Internal bool
	Doc      string
	Run      func(args []string) Result
}

var all = map[string]Attempt{}

func register(a Attempt) { all[a.Name] = a }

// List returns the attempts by name.
func List() []Attempt {
	var out []Attempt
	for _, a := range all {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Main runs the named attempts (or, with no names, every attempt that
// needs no argument) and prints one JSON line each. It returns 0 when every
// escape failed and all work succeeded, 1 otherwise, 2 for a bad name.
func Main(w io.Writer, args []string) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "list") {
		for _, a := range List() {
			kind := "work"
			if a.Escape {
				kind = "escape"
			}
			fmt.Fprintf(w, "%-22s %-6s %s\n", a.Name, kind, a.Doc)
		}
		return 0
	}
	var todo []Attempt
	var rest []string
	if len(args) == 0 {
		for _, a := range List() {
			if a.Escape && !a.Internal {
				todo = append(todo, a)
			}
		}
	} else {
		a, ok := all[args[0]]
		if !ok {
			fmt.Fprintf(os.Stderr, "hardenvm-attempts: unknown attempt %q (try: list)\n", args[0])
			return 2
		}
		todo, rest = []Attempt{a}, args[1:]
	}
	code := 0
	enc := json.NewEncoder(w)
	for _, a := range todo {
		r := a.Run(rest)
		r.Name = a.Name
		enc.Encode(r)
		if r.OK == a.Escape {
			code = 1
		}
	}
	return code
}

func result(ok bool, format string, args ...any) Result {
	return Result{OK: ok, Detail: fmt.Sprintf(format, args...)}
}
