package epoch

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1735689600", 1735689600, true},
		{" 0\n", 0, true},
		{"-1", 0, false},
		{"2025-01-01", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if (err == nil) != tt.ok || tt.ok && (got.Unix() != tt.want || got.Location() != time.UTC) {
			t.Errorf("Parse(%q) = %v, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestFlag(t *testing.T) {
	tests := []struct {
		name, flag, env string
		want            int64
		err             string
	}{
		{name: "flag wins", flag: "100", env: "200", want: 100},
		{name: "environment", env: "200", want: 200},
		{name: "neither: 1970", want: 0},
		{name: "bad flag", flag: "soon", env: "200", err: `--epoch/SOURCE_DATE_EPOCH "soon": SOURCE_DATE_EPOCH "soon": want a non-negative number of seconds since 1970`},
		{name: "bad environment", env: "-3", err: `--epoch/SOURCE_DATE_EPOCH "-3": SOURCE_DATE_EPOCH "-3": want a non-negative number of seconds since 1970`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(Env, tt.env)
			got, err := Flag(tt.flag)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("Flag(%q) error = %v, want %s", tt.flag, err, tt.err)
				}
				return
			}
			if err != nil || got.Unix() != tt.want {
				t.Errorf("Flag(%q) = %v, %v; want %d", tt.flag, got, err, tt.want)
			}
		})
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"2026-11-27T12:00:00Z", 1795780800, true},
		{"@1795780800", 1795780800, true},
		{"2026-11-27T13:00:00+01:00", 1795780800, true},
		{"@", 0, false},
		{"@x", 0, false},
		{"yesterday", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in)
		if (err == nil) != tt.ok || tt.ok && got.Unix() != tt.want {
			t.Errorf("ParseTime(%q) = %v, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
