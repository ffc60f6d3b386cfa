package lockfile

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hardenvm/hardenvm/pkg/debchangelog"
	"github.com/hardenvm/hardenvm/pkg/imagespec"
)

// reportUpdate is an update of a lock of one package: libc6 gets a
// security fix, a new package comes in without a readable changelog.
func reportUpdate() *Update {
	lock := &imagespec.Lock{
		Suites:   []imagespec.LockSuite{{Name: "trixie"}, {Name: "trixie-security"}},
		Kernel:   []imagespec.Package{{Name: "linux-image-cloud-amd64", Version: "6.12.118-1"}},
		Stub:     imagespec.Package{Name: "systemd-boot-efi", Version: "257.13-1"},
		Packages: []imagespec.Package{{Name: "libc6", Version: "2.41-12+deb13u1"}},
	}
	return &Update{Path: "t.lock.json", New: lock, Changes: []Change{
		{Name: "libc6", Old: &imagespec.Package{Version: "2.41-12"}, New: &imagespec.Package{Version: "2.41-12+deb13u1", Suite: "trixie-security"},
			Entries: []debchangelog.Entry{{Version: "2.41-12+deb13u1", Urgency: "high", CVEs: []string{"CVE-2026-0001"}}, {Version: "2.41-12~rc1"}}},
		{Name: "zlib1g", New: &imagespec.Package{Version: "1:1.3", Suite: "trixie"}, Note: "no changelog read"},
	}}
}

func TestWriteText(t *testing.T) {
	changes := "! libc6: 2.41-12 -> 2.41-12+deb13u1 (trixie-security)\n" +
		"    2.41-12+deb13u1 (urgency high): CVE-2026-0001\n" +
		"    2.41-12~rc1 (urgency unknown): no CVE named\n" +
		"  zlib1g: added 1:1.3 (trixie)\n" +
		"    (no changelog read)\n"
	tests := []struct {
		name    string
		written bool
		check   bool
		changes bool
		want    string
	}{
		{"written", true, false, true, "t.lock.json: written; trixie trixie-security, 1 package, kernel linux-image-cloud-amd64 6.12.118-1, stub systemd-boot-efi 257.13-1\n" + changes},
		{"unchanged", false, false, false, "t.lock.json: unchanged; trixie trixie-security, 1 package, kernel linux-image-cloud-amd64 6.12.118-1, stub systemd-boot-efi 257.13-1\n"},
		{"check, not current", false, true, true, "t.lock.json: not current; trixie trixie-security, 1 package, kernel linux-image-cloud-amd64 6.12.118-1, stub systemd-boot-efi 257.13-1\n" + changes},
		{"check, current", false, true, false, "t.lock.json: current; trixie trixie-security, 1 package, kernel linux-image-cloud-amd64 6.12.118-1, stub systemd-boot-efi 257.13-1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := reportUpdate()
			u.Written = tt.written
			if !tt.changes {
				u.Changes = nil
			}
			var b strings.Builder
			if err := u.WriteText(&b, tt.check); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, b.String()); d != "" {
				t.Errorf("WriteText: diff (-want +got)\n%s", d)
			}
		})
	}
}

func TestReport(t *testing.T) {
	u := reportUpdate()
	want := []ChangeReport{
		{Name: "libc6", OldVersion: "2.41-12", NewVersion: "2.41-12+deb13u1", Suite: "trixie-security", Security: true,
			CVEs: []string{"CVE-2026-0001"}, Urgency: []string{"high", ""}},
		{Name: "zlib1g", NewVersion: "1:1.3", Suite: "trixie", CVEs: []string{}, Urgency: []string{}, Note: "no changelog read"},
	}
	r := u.Report()
	if d := cmp.Diff(want, r.Changes); d != "" {
		t.Errorf("Report().Changes: diff (-want +got)\n%s", d)
	}
	u.Changes = nil
	b, err := json.Marshal(u.Report())
	if err != nil || !strings.Contains(string(b), `"changes":[]`) {
		t.Errorf("Report of no changes = %s, %v; want an empty list", b, err)
	}
}
