package cliresult

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestOneLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"two\nlines", "two lines"},
		{"  spaced \t out\n\n", "spaced out"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := OneLine(tt.in); got != tt.want {
			t.Errorf("OneLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestJSONRequested(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{[]string{"verify", "--json", "out"}, true},
		{[]string{"--json=true", "bogus"}, true},
		{[]string{"--json=1"}, true},
		{[]string{"--json=false", "x"}, false},
		{[]string{"run", "--", "--json"}, false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := JSONRequested(tt.args); got != tt.want {
			t.Errorf("JSONRequested(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

func TestWriteJSON(t *testing.T) {
	fail := errors.New("it\nbroke")
	tests := []struct {
		name string
		data string
		err  error
		want string
	}{
		{"data", `{"a":1}`, nil, "{\n  \"a\": 1\n}\n"},
		{"nothing", "", nil, ""},
		{"error alone", "", fail, "{\n  \"error\": \"it broke\"\n}\n"},
		{"error first, then the data", `{"a":1,"b":[]}`, fail, "{\n  \"error\": \"it broke\",\n  \"a\": 1,\n  \"b\": []\n}\n"},
		{"empty object", `{}`, fail, "{\n  \"error\": \"it broke\"\n}\n"},
		{"not an object", `[1]`, fail, "{\n  \"error\": \"it broke\"\n}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			WriteJSON(&b, json.RawMessage(tt.data), tt.err)
			if b.String() != tt.want {
				t.Errorf("WriteJSON = %q, want %q", b.String(), tt.want)
			}
			if tt.want != "" && !json.Valid([]byte(b.String())) {
				t.Errorf("WriteJSON wrote invalid JSON: %s", b.String())
			}
		})
	}
}

func TestCobraUsage(t *testing.T) {
	tests := []struct {
		err  string
		want bool
	}{
		{`unknown command "bogus" for "hardenvm"`, true},
		{"unknown flag: --nope", true},
		{"unknown shorthand flag: 'x' in -x", true},
		{"accepts at most 1 arg(s), received 2", true},
		{`invalid argument "x" for "--cpus" flag: strconv.ParseInt: parsing "x": invalid syntax`, true},
		{"pk.key is missing", false},
	}
	for _, tt := range tests {
		if got := CobraUsage(errors.New(tt.err)); got != tt.want {
			t.Errorf("CobraUsage(%q) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
