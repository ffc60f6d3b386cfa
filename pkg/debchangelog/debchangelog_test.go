package debchangelog

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const binNMU = `bash (5.2.15-2+b13) bookworm; urgency=low, binary-only=yes

  * Binary-only non-maintainer upload for amd64; no source changes.
  * Rebuild for outdated Built-Using (glibc/2.36-9+deb12u13)

 -- amd64 / i386 Build Daemon (x86-csail-01) <buildd_amd64-x86-csail-01@buildd.debian.org>  Thu, 07 May 2026 20:33:02 +0000
`

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Entry
	}{
		{name: "binNMU", in: binNMU, want: []Entry{{
			Source: "bash", Version: "5.2.15-2+b13", Distributions: []string{"bookworm"}, Urgency: "low",
			Keywords:   map[string]string{"binary-only": "yes"},
			Body:       []string{"  * Binary-only non-maintainer upload for amd64; no source changes.", "  * Rebuild for outdated Built-Using (glibc/2.36-9+deb12u13)"},
			Maintainer: "amd64 / i386 Build Daemon (x86-csail-01) <buildd_amd64-x86-csail-01@buildd.debian.org>",
			Date:       "Thu, 07 May 2026 20:33:02 +0000",
		}}},
		{name: "CVEs once each, several distributions, comments and end marker", in: `# Older entries have been removed from this changelog.
runc (1.1.15+ds1-2+deb13u1) trixie-security unstable; Urgency=HIGH

  * CVE-2025-31133: verify the /dev/null bind-mount source for masked paths

    (again CVE-2025-31133, and CVE-2025-52565)
 -- A B <a@b.org>  Mon, 01 Dec 2025 10:00:00 +0100

runc (1:2.0-1) unstable; urgency=medium
 -- C <c@d>  Sun, 30 Nov 2025 10:00:00 +0100
Local variables:
mode: debian-changelog
End:
`, want: []Entry{
			{Source: "runc", Version: "1.1.15+ds1-2+deb13u1", Distributions: []string{"trixie-security", "unstable"}, Urgency: "high",
				CVEs:       []string{"CVE-2025-31133", "CVE-2025-52565"},
				Body:       []string{"  * CVE-2025-31133: verify the /dev/null bind-mount source for masked paths", "", "    (again CVE-2025-31133, and CVE-2025-52565)"},
				Maintainer: "A B <a@b.org>", Date: "Mon, 01 Dec 2025 10:00:00 +0100"},
			{Source: "runc", Version: "1:2.0-1", Distributions: []string{"unstable"}, Urgency: "medium", Maintainer: "C <c@d>", Date: "Sun, 30 Nov 2025 10:00:00 +0100"},
		}},
		{name: "empty", in: "\n\n", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse() diff (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		line    int
		entries int // parsed before the error
	}{
		{name: "not a header", in: "hello world\n", line: 1},
		{name: "no trailer", in: "a (1) unstable; urgency=low\n\n  * x\n", line: 3},
		{name: "header instead of trailer", in: "a (1) unstable; urgency=low\n  * x\na (0) unstable; urgency=low\n", line: 3},
		{name: "malformed trailer", in: "a (1) unstable; urgency=low\n  * x\n -- nobody\n", line: 3},
		{name: "bad keyword", in: "a (1) unstable; urgency\n", line: 1},
		{name: "later entry bad", in: binNMU + "\nb (1) unstable urgency=low\n", line: 8, entries: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.in))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse() error = %v, want a *SyntaxError", err)
			}
			if se.Line != tt.line || len(got) != tt.entries {
				t.Errorf("Parse() = %d entries, error at line %d (%v); want %d, line %d", len(got), se.Line, err, tt.entries, tt.line)
			}
		})
	}
}

func versions(entries []Entry) []string {
	var v []string
	for _, e := range entries {
		v = append(v, e.Version)
	}
	return v
}

// TestRealChangelog reads runc's changelog as Debian bookworm ships it.
func TestRealChangelog(t *testing.T) {
	f, err := os.Open("testdata/runc.changelog")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 40 { // grep -c '^ -- ' testdata/runc.changelog
		t.Errorf("Parse() = %d entries, want 40", len(entries))
	}
	tests := []struct {
		older, newer string
		versions     []string
		cves         []string
	}{
		{"1.1.5+ds1-1", "1.1.5+ds1-1+deb12u1", []string{"1.1.5+ds1-1+deb12u1"}, []string{"CVE-2024-21626"}},
		{"1.1.4+ds1-1", "1.1.5+ds1-1+deb12u1", []string{"1.1.5+ds1-1+deb12u1", "1.1.5+ds1-1"},
			[]string{"CVE-2019-19921", "CVE-2023-25809", "CVE-2023-27561", "CVE-2023-28642", "CVE-2024-21626"}},
		{"1.1.4+ds1-1", "1.1.5+ds1-1", []string{"1.1.5+ds1-1"}, []string{"CVE-2019-19921", "CVE-2023-25809", "CVE-2023-27561", "CVE-2023-28642"}},
		// ~ sorts before the release: rc95 is older than 1.0.0.
		{"1.0.0~rc95.86.g2f8e8e9d+ds1-1", "1.0.1+ds1-1", []string{"1.0.1+ds1-1", "1.0.0+ds1-1"}, nil},
		{"1.1.5+ds1-1+deb12u1", "", nil, nil},
		{"1.1.5+ds1-1", "1.1.5+ds1-1", nil, nil},
		{"not a version", "1.1.5+ds1-1", nil, nil},
	}
	for _, tt := range tests {
		got := Between(entries, tt.older, tt.newer)
		if diff := cmp.Diff(tt.versions, versions(got)); diff != "" {
			t.Errorf("Between(%q, %q) versions diff (-want +got):\n%s", tt.older, tt.newer, diff)
		}
		if diff := cmp.Diff(tt.cves, CVEs(got)); diff != "" {
			t.Errorf("CVEs(Between(%q, %q)) diff (-want +got):\n%s", tt.older, tt.newer, diff)
		}
	}
	if got := Between(entries, "", ""); len(got) != len(entries) {
		t.Errorf("Between(open, open) = %d entries, want all %d", len(got), len(entries))
	}
}

// TestBetweenSignedKernel: the signed kernel's changelog versions (source
// linux-signed-amd64) are not its binary versions; bounded by the newest
// entries of the two changelogs, Between gives exactly the new entries.
func TestBetweenSignedKernel(t *testing.T) {
	entry := func(v, cve string) string {
		return "linux-signed-amd64 (" + v + ") trixie-security; urgency=high\n\n  * fix (" + cve + ")\n\n -- A <a@b>  Mon, 01 Dec 2025 10:00:00 +0000\n\n"
	}
	newLog, err := Parse(strings.NewReader(entry("6.12.118+1", "CVE-2026-0002") + entry("6.12.117+1", "CVE-2026-0001")))
	if err != nil {
		t.Fatal(err)
	}
	oldLog := newLog[1:]
	got := Between(newLog, oldLog[0].Version, newLog[0].Version)
	if diff := cmp.Diff([]string{"CVE-2026-0002"}, CVEs(got)); diff != "" {
		t.Errorf("CVEs between the changelogs' newest entries (-want +got):\n%s", diff)
	}
	// The binary versions 6.12.117-1 -> 6.12.118-1 would be off by one.
	if got := Between(newLog, "6.12.117-1", "6.12.118-1"); len(got) != 1 || got[0].Version != "6.12.117+1" {
		t.Errorf("Between(binary versions) = %v; the doc comment's warning no longer holds", versions(got))
	}
}
