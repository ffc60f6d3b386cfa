package checklist

import (
	"errors"
	"strings"
	"testing"
)

func TestErr(t *testing.T) {
	tests := []struct {
		name   string
		checks []Check
		want   string // "" for nil
	}{
		{"all ok", []Check{{Name: "bundle", Artifact: "m", Status: OK}, {Name: "config", Artifact: "d", Status: Skip}}, ""},
		{"artifacts", []Check{
			{Name: "digest", Artifact: "disk", Status: Fail, Detail: "sha256 differs"},
			{Name: "verity", Artifact: "disk", Status: Fail, Detail: "bad block"},
			{Name: "digest", Artifact: "uki", Status: Fail, Detail: "size"},
		}, "verification failed: out: disk, uki failed verification (disk digest: sha256 differs)"},
		{"no artifacts", []Check{
			{Name: "AK", Status: OK},
			{Name: "quote", Status: Fail, Detail: "nonce"},
			{Name: "PCR 4", Status: Fail, Detail: "UKI differs"},
		}, "verification failed: out: quote, PCR 4 failed verification (quote: nonce)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Report{Dir: "out"}
			for _, c := range tt.checks {
				r.Add(c.Name, c.Artifact, c.Status, c.Detail)
			}
			err := r.Err()
			if tt.want == "" {
				if err != nil || !r.OK {
					t.Errorf("Err() = %v, OK = %v, want nil, true", err, r.OK)
				}
				return
			}
			if err == nil || err.Error() != tt.want || !errors.Is(err, ErrFailed) || r.OK {
				t.Errorf("Err() = %v (OK %v), want %q matching ErrFailed", err, r.OK, tt.want)
			}
		})
	}
}

func TestPrint(t *testing.T) {
	tests := []struct {
		name string
		r    Report
		want string
	}{
		{"with artifacts", Report{Checks: []Check{{Name: "digest", Artifact: "disk", Status: OK, Detail: "sha256 x"}}},
			"ok    digest        disk                    sha256 x\n"},
		{"without", Report{Checks: []Check{{Name: "quote", Status: Fail, Detail: "nonce"}}},
			"FAIL  quote                nonce\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := tt.r.Print(&b); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("Print = %q, want %q", b.String(), tt.want)
			}
		})
	}
}
