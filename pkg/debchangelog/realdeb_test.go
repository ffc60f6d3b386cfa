package debchangelog

import (
	"bytes"
	"os"
	"testing"

	"github.com/hardenvm/hardenvm/internal/debtest"
	"github.com/hardenvm/hardenvm/pkg/debpkg"
)

// TestRealDebs parses the changelogs of real packages from the host's
// mirror: a plain one, a binNMU (bash, whose changelog.Debian.amd64.gz
// comes first) and long ones. The newest entry is the package's version.
func TestRealDebs(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads packages")
	}
	for _, pkg := range []string{"runc", "bash", "libc6", "tzdata"} {
		t.Run(pkg, func(t *testing.T) {
			b, err := os.ReadFile(debtest.Download(t, pkg))
			if err != nil {
				t.Fatal(err)
			}
			d, err := debpkg.ReadDocs(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if d.ChangelogErr != nil {
				t.Fatal(d.ChangelogErr)
			}
			entries, err := Parse(bytes.NewReader(d.Changelog))
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) == 0 || entries[0].Version != d.Control["Version"] {
				t.Fatalf("Parse() = %d entries, first %v; want the package's version %s first", len(entries), versions(entries[:min(1, len(entries))]), d.Control["Version"])
			}
			if got := Between(entries, "", d.Control["Version"]); len(got) != len(entries) {
				t.Errorf("Between(\"\", %s) = %d entries, want all %d", d.Control["Version"], len(got), len(entries))
			}
			t.Logf("%s %s: %d entries, %d CVE ids", pkg, d.Control["Version"], len(entries), len(CVEs(entries)))
		})
	}
}
