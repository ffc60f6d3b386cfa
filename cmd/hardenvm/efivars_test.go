package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/efivars"
)

func TestEfivarsEnrollAndDump(t *testing.T) {
	testenv.File(t, efivars.DefaultTemplate, "ovmf")
	dir := t.TempDir()
	kd := filepath.Join(dir, "keys")
	if code, _, stderr := hv(t, "keys", "init", "--keys", kd); code != 0 {
		t.Fatalf("keys init: %s", stderr)
	}
	out := filepath.Join(dir, "vars.fd")
	if code, _, stderr := hv(t, "efivars", "enroll", "--keys", kd, "--time", "2026-11-27T12:00:00Z", "-o", out); code != 0 {
		t.Fatalf("enroll: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := hv(t, "--json", "efivars", "dump", out)
	if code != 0 {
		t.Fatalf("dump: %s", stderr)
	}
	var v efivars.StoreView
	if err := json.Unmarshal([]byte(stdout), &v); err != nil {
		t.Fatal(err)
	}
	owner, err := os.ReadFile(filepath.Join(kd, "owner.guid"))
	if err != nil {
		t.Fatal(err)
	}
	if !v.SecureBoot || v.Dirty {
		t.Errorf("secureBoot=%v dirty=%v, want on and clean", v.SecureBoot, v.Dirty)
	}
	var names []string
	for _, ev := range v.Variables {
		names = append(names, ev.Name)
		if ev.Attributes == "NV|BS|RT|AT" {
			if ev.Time != "2026-11-27T12:00:00Z" || len(ev.Signatures) != 1 || ev.Signatures[0].Owner != strings.TrimSpace(string(owner)) {
				t.Errorf("%s: %+v", ev.Name, ev)
			}
		}
	}
	if got := strings.Join(names, " "); got != "SecureBootEnable CustomMode PK KEK db" {
		t.Errorf("variables %q", got)
	}

	// The text form names every variable and the certificates.
	_, text, _ := hv(t, "efivars", "dump", out)
	for _, want := range []string{"SecureBootEnable", "EfiGlobalVariable", "PK:", "(db)", "Secure Boot at next start: on"} {
		if !strings.Contains(text, want) {
			t.Errorf("dump output lacks %q:\n%s", want, text)
		}
	}

	// Same inputs, same bytes; the default time is the PK's NotBefore or
	// SOURCE_DATE_EPOCH, never the clock.
	again := filepath.Join(dir, "again.fd")
	hv(t, "efivars", "enroll", "--keys", kd, "--time", "@1795780800", "-o", again)
	if a, b := mustRead(t, out), mustRead(t, again); !bytes.Equal(a, b) {
		t.Error("--time @UNIX and the same RFC 3339 time give different stores")
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1795780800")
	hv(t, "efivars", "enroll", "--keys", kd, "-o", again)
	if a, b := mustRead(t, out), mustRead(t, again); !bytes.Equal(a, b) {
		t.Error("SOURCE_DATE_EPOCH is not used as the default time")
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEfivarsErrors(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.fd")
	os.WriteFile(junk, []byte("no firmware here"), 0o644)
	kd := filepath.Join(dir, "keys")
	if code, _, stderr := hv(t, "keys", "init", "--keys", kd); code != 0 {
		t.Fatalf("keys init: %s", stderr)
	}
	out := filepath.Join(dir, "out.fd")
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"efivars"}, exitUsage, "want a subcommand"},
		{[]string{"efivars", "enroll", "--keys", kd}, exitUsage, "--output (-o) is required"},
		{[]string{"efivars", "enroll", "--keys", kd, "--time", "yesterday", "-o", out}, exitUsage, "--time"},
		{[]string{"efivars", "enroll", "--keys", filepath.Join(dir, "nokeys"), "-o", out}, exitFailure, "pk.key is missing"},
		{[]string{"efivars", "enroll", "--keys", kd, "--template", junk, "-o", out}, exitFailure, "not an edk2 variable store"},
		{[]string{"efivars", "enroll", "--keys", kd, "--arch", "s390x", "-o", out}, exitUsage, "no UEFI firmware known for architecture \"s390x\""},
		{[]string{"efivars", "enroll", "--keys", kd, "--arch", "arm64", "--template", junk, "-o", out}, exitFailure, "blank variable flash of 16 bytes"},
		{[]string{"efivars", "dump", junk}, exitFailure, "junk.fd: not an edk2 variable store"},
		{[]string{"efivars", "dump"}, exitUsage, "FILE"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[1:], " "), func(t *testing.T) {
			code, _, stderr := hv(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Errorf("exit %d stderr %q, want exit %d and one line with %q", code, stderr, tt.code, tt.want)
			}
		})
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a failed enroll left %s behind", out)
	}
}
