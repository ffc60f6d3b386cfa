// Package cliresult is how a run of the command line ends for the person
// and the program that called it: the error as one line, the --json
// document (the command's data, with the error merged in as its first
// member), and which errors are mistakes in the command line itself.
package cliresult

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
)

// OneLine is s with every run of white space, line breaks included, made
// one space: an error that fits on one line of a terminal or a log.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// JSONRequested says whether args ask for --json, for errors that come
// before the flags are parsed (an unknown command or flag).
func JSONRequested(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--json", "--json=true", "--json=1":
			return true
		}
	}
	return false
}

// WriteJSON writes a command's --json result, indented: data (a JSON
// object), {"error": "…"} for err, or data with an "error" member first
// when the command failed after it had data. It writes nothing when there
// is neither.
func WriteJSON(w io.Writer, data json.RawMessage, err error) {
	if err != nil {
		e, _ := json.Marshal(map[string]string{"error": OneLine(err.Error())})
		switch {
		case len(data) == 0:
			data = e
		case data[0] == '{' && string(data) == "{}":
			data = e
		case data[0] == '{':
			data = append(append(e[:len(e)-1:len(e)-1], ','), data[1:]...)
		default:
			// Not an object (no command prints one): the error alone.
			data = e
		}
	}
	if len(data) == 0 {
		return
	}
	var b bytes.Buffer
	if err := json.Indent(&b, data, "", "  "); err != nil {
		b.Reset()
		b.Write(data)
	}
	b.WriteByte('\n')
	w.Write(b.Bytes())
}

// CobraUsage recognises the errors cobra itself returns for a wrong
// command line (it has no typed errors for them).
func CobraUsage(err error) bool {
	s := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "requires at most", "received ", "invalid argument"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}
