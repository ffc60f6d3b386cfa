package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardenvm/hardenvm/internal/buildtest"
	"github.com/hardenvm/hardenvm/pkg/configimage"
)

func TestConfigCommands(t *testing.T) {
	dir := t.TempDir()
	keyDir, otherKeys := filepath.Join(dir, "keys"), filepath.Join(dir, "other")
	for _, k := range []string{keyDir, otherKeys} {
		if code, _, e := runCLI(t, "keys", "init", "--keys", k); code != 0 {
			t.Fatalf("keys init: %s", e)
		}
	}
	settings := filepath.Join(dir, "admin-settings.json")
	os.WriteFile(settings, []byte(`{"configurationFileVersion":2,"linuxVM":{"dockerDaemonOptions":{"locked":true,"value":{"hosts":["tcp://0.0.0.0:2376"],"tlsverify":true}}}}`), 0o644)
	img := filepath.Join(dir, "config.img")

	// TCP needs --tls: a usage error.
	if code, _, e := runCLI(t, "config", "build", settings, "-o", img); code != 2 || !strings.Contains(e, "--tls DIR is required") {
		t.Errorf("config build without --tls: exit %d, %s", code, e)
	}
	tlsDir := filepath.Join(dir, "tls")
	code, out, e := runCLI(t, "config", "build", settings, "-o", img, "--tls", tlsDir)
	if code != 0 || !strings.Contains(out, "unsigned") || !strings.Contains(out, "DOCKER_CERT_PATH="+tlsDir) {
		t.Fatalf("config build: exit %d, %s%s", code, out, e)
	}
	for _, f := range []string{"ca.pem", "ca-key.pem", "cert.pem", "key.pem", "server-cert.pem", "server-key.pem"} {
		if _, err := os.Stat(filepath.Join(tlsDir, f)); err != nil {
			t.Errorf("TLS directory: %v", err)
		}
	}
	if code, _, e := runCLI(t, "config", "verify", img, "--keys", keyDir); code != 1 || !strings.Contains(e, "not signed") {
		t.Errorf("verify unsigned: exit %d, %s", code, e)
	}
	if code, _, e := runCLI(t, "config", "sign", img, "--keys", keyDir); code != 0 {
		t.Fatalf("config sign: %s", e)
	}
	code, out, e = runCLI(t, "config", "verify", "--json", img, "--keys", keyDir)
	var info configimage.Info
	if code != 0 || json.Unmarshal([]byte(out), &info) != nil || !info.Signed || len(info.RootHash) != 64 {
		t.Fatalf("config verify: exit %d, %s%s", code, out, e)
	}
	if code, _, e := runCLI(t, "config", "verify", img, "--cert", filepath.Join(otherKeys, "admin.crt")); code != 1 ||
		!strings.Contains(e, "not signed by the admin key") || strings.Count(e, "\n") != 1 {
		t.Errorf("verify with another cert: exit %d, %q", code, e)
	}

	// Refused settings: exit 1, one line naming the key.
	os.WriteFile(settings, []byte(`{"configurationFileVersion":2,"exposeDockerAPIOnTCP2375":{"value":true,"locked":true}}`), 0o644)
	if code, _, e := runCLI(t, "config", "build", settings, "-o", img); code != 1 || !strings.Contains(e, "exposeDockerAPIOnTCP2375.value: true is not allowed") || strings.Count(e, "\n") != 1 {
		t.Errorf("config build with plain TCP: exit %d, %q", code, e)
	}
	code, out, _ = runCLI(t, "config", "schema")
	if code != 0 || !strings.Contains(out, `"exposeDockerAPIOnTCP2375"`) {
		t.Errorf("config schema: exit %d", code)
	}
}

// TestConfigVerifyImage: config verify takes an image directory or its
// disk, and checks the config partition there with the admin certificate.
func TestConfigVerifyImage(t *testing.T) {
	img := buildtest.Minimal(t)
	other := filepath.Join(t.TempDir(), "other")
	if code, _, e := runCLI(t, "keys", "init", "--dir", other); code != 0 {
		t.Fatalf("keys init: %s", e)
	}
	for _, arg := range []string{img.Dir, filepath.Join(img.Dir, "disk.raw")} {
		code, out, e := runCLI(t, "config", "verify", arg, "--keys", img.KeyDir)
		if code != 0 || !strings.Contains(out, "disk.raw partition") {
			t.Errorf("config verify %s: exit %d, %s%s", arg, code, out, e)
		}
		if code, _, e := runCLI(t, "config", "verify", arg, "--keys", other); code != 1 || !strings.Contains(e, "not signed by the admin key") {
			t.Errorf("config verify %s with another admin: exit %d, %s", arg, code, e)
		}
	}
}
