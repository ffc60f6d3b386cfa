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
	} {
		line, err := p.Cmdline()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(line, "console=ttyS0 ro lockdown=integrity") {
			t.Errorf("Cmdline() = %q lacks the base arguments", line)
		}
		got, err := Parse("BOOT_IMAGE=x " + line + " quiet")
		want := Params{RootHash: hash, Corruption: p.corruption(), Console: p.console()}
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", line, got, err, want)
		}
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
	} {
		if p, err := Parse(line); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", line, p)
		}
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
