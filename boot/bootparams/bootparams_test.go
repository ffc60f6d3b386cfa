package bootparams

import (
	"strings"
	"testing"
)

const hash = "4f68bce3e8cd4db196e7fbcaf984b7092c7357edebd246d9aec123d437ec2bf5"

func TestRoundTrip(t *testing.T) {
	for _, p := range []Params{
		{RootHash: hash},
		{RootHash: hash, Corruption: PanicOnCorruption, Console: ConsoleNone},
		{RootHash: hash, Arch: "amd64"},
		{RootHash: hash, Arch: "arm64"},
		{RootHash: hash, Unhardened: true},
	} {
		line, err := p.Cmdline()
		if err != nil {
			t.Fatal(err)
		}
		base, noBase := "console=ttyS0 ro lockdown=integrity panic=10 no_timer_check ", "console=ttyAMA0"
		if p.Arch == "arm64" {
			base, noBase = "console=ttyAMA0 ro lockdown=integrity panic=10 ", "no_timer_check"
		}
		if !strings.HasPrefix(line, base) || strings.Contains(line, noBase) {
			t.Errorf("Cmdline() = %q: want it to start with %q, without %q", line, base, noBase)
		}
		got, err := Parse("BOOT_IMAGE=x " + line + " quiet")
		want := Params{RootHash: hash, Corruption: p.corruption(), Console: p.console(), Unhardened: p.Unhardened}
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", line, got, err, want)
		}
	}
}

// TestUnhardenedOnlyWhenAsked: a production command line never carries
// the unhardened parameter, and one that does says so when parsed.
func TestUnhardenedOnlyWhenAsked(t *testing.T) {
	line, err := Params{RootHash: hash}.Cmdline()
	if err != nil || strings.Contains(line, UnhardenedParam) {
		t.Fatalf("Cmdline() = %q, %v: want no %s", line, err, UnhardenedParam)
	}
	line, _ = Params{RootHash: hash, Unhardened: true}.Cmdline()
	if !strings.HasSuffix(line, " hardenvm.unhardened=benchmarks-only") {
		t.Errorf("unhardened Cmdline() = %q", line)
	}
	if p, err := Parse(line); err != nil || !p.Unhardened {
		t.Errorf("Parse(%q) = %+v, %v: want Unhardened", line, p, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, line := range []string{
		"",
		"hardenvm.roothash=abc",
		"hardenvm.roothash=" + hash + " hardenvm.roothash=" + hash,
		"hardenvm.roothash=" + hash + " hardenvm.verity=ignore_corruption",
		"hardenvm.roothash=" + hash + " hardenvm.console=root",
		"hardenvm.roothash=" + hash + " hardenvm.shell=1",
		"hardenvm.roothash=" + hash + " hardenvm.unhardened=1",
		"hardenvm.roothash=" + hash + " hardenvm.unhardened=benchmarks-only hardenvm.unhardened=benchmarks-only",
	} {
		if p, err := Parse(line); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", line, p)
		}
	}
	if line, err := (Params{RootHash: hash, Arch: "riscv64"}).Cmdline(); err == nil {
		t.Errorf("Cmdline for riscv64 = %q, want an error", line)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("hardenvm.roothash=" + hash + " hardenvm.verity=panic_on_corruption")
	f.Fuzz(func(t *testing.T, line string) {
		p, err := Parse(line)
		if err != nil {
			return
		}
		again, err := p.Cmdline()
		if err != nil {
			t.Fatalf("parsed %+v does not format: %v", p, err)
		}
		if q, err := Parse(again); err != nil || q != p {
			t.Fatalf("round trip %+v -> %q -> %+v, %v", p, again, q, err)
		}
	})
}
