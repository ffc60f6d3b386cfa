package provenance

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hardenvm/hardenvm/internal/cosigntest"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/sign"
)

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// bundleFile is the provenance bundle in the directories these tests write.
const bundleFile = "provenance.sigstore.json"

// imageDir writes two artifacts and the provenance over them, signed with
// a fresh key set written to keyDir.
func imageDir(t *testing.T) (dir, keyDir string, set *keys.Set, in Input) {
	t.Helper()
	set, err := keys.Generate(keys.Options{Now: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	keyDir = t.TempDir()
	if err := keys.Write(keyDir, set, true); err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	in = Input{Spec: Resource{Name: "images/minimal.yml", SHA256: sum([]byte("spec"))}, Epoch: 1700000000,
		Dependencies:   []Resource{{Name: "runc_1.0-1_amd64.deb", URI: "pkg:deb/debian/runc@1.0-1?arch=amd64", SHA256: sum([]byte("deb"))}, {Name: "hardenvm", URI: "git+https://github.com/hardenvm/hardenvm", GitCommit: strings.Repeat("a", 40)}},
		BuilderVersion: map[string]string{"hardenvm": "v0.0.0-test"}}
	for _, n := range []string{"disk.raw", "manifest.json"} {
		b := []byte("contents of " + n)
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
		in.Subjects = append(in.Subjects, Resource{Name: n, SHA256: sum(b)})
	}
	if err := Write(filepath.Join(dir, bundleFile), in, set.Get(keys.Signing).Signer); err != nil {
		t.Fatal(err)
	}
	return dir, keyDir, set, in
}

func TestStatementRoundTrip(t *testing.T) {
	dir, _, set, in := imageDir(t)
	a, err := Statement(in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Statement(in)
	if err != nil || !bytes.Equal(a, b) {
		t.Fatalf("two statements of the same input differ (%v)", err)
	}
	bundle, err := os.ReadFile(filepath.Join(dir, bundleFile))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Verify(bundle, set.Get(keys.Signing).Public())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, s := range in.Subjects {
		want[s.Name] = s.SHA256
	}
	if diff := cmp.Diff(want, p.Subjects); diff != "" {
		t.Errorf("subjects (-want +got):\n%s", diff)
	}
	if p.BuildType != BuildType || p.Builder != BuilderID {
		t.Errorf("build type %q, builder %q", p.BuildType, p.Builder)
	}
	for _, s := range []string{`"_type":"https://in-toto.io/Statement/v1"`, `"predicateType":"https://slsa.dev/provenance/v1"`, `"resolvedDependencies"`, `"gitCommit"`, `"specSha256"`} {
		if !strings.Contains(string(a), s) {
			t.Errorf("statement lacks %s:\n%s", s, a)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, in := range []string{"", "{}", `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"00"}}],"predicateType":"https://spdx.dev/Document","predicate":{}}`} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q) succeeded", in)
		}
	}
}

// TestCosignVerifyBlobAttestation: cosign accepts the provenance for an
// artifact it names, and rejects it once a byte of the artifact or of the
// signed payload changed, or for another key.
func TestCosignVerifyBlobAttestation(t *testing.T) {
	bin := cosigntest.Binary(t)
	dir, keyDir, set, _ := imageDir(t)
	home := t.TempDir()
	verify := func(t *testing.T, pub, dir, artifact string) (bool, string) {
		t.Helper()
		return cosigntest.Verify(t, bin, home, "verify-blob-attestation", "--key", pub,
			"--bundle", filepath.Join(dir, bundleFile), "--insecure-ignore-tlog=true",
			"--type", "slsaprovenance1", filepath.Join(dir, artifact))
	}
	pub := filepath.Join(keyDir, "signing.pub")
	for _, a := range []string{"disk.raw", "manifest.json"} {
		if ok, out := verify(t, pub, dir, a); !ok {
			t.Fatalf("cosign verify-blob-attestation %s rejected our provenance:\n%s", a, out)
		}
	}

	other, err := keys.Generate(keys.Options{Now: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	otherDir := t.TempDir()
	if err := keys.Write(otherDir, other, true); err != nil {
		t.Fatal(err)
	}
	copyDir := func(t *testing.T) string {
		d := t.TempDir()
		if err := os.CopyFS(d, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		return d
	}
	tests := []struct {
		name   string
		pub    string
		tamper func(t *testing.T, d string)
	}{
		{"artifact byte changed", pub, func(t *testing.T, d string) {
			os.WriteFile(filepath.Join(d, "disk.raw"), []byte("contents of disk.raX"), 0o644)
		}},
		{"payload byte changed", pub, func(t *testing.T, d string) {
			p := filepath.Join(d, bundleFile)
			b, _ := os.ReadFile(p)
			i := bytes.Index(b, []byte(`"payload": "`)) + len(`"payload": "`)
			j := bytes.IndexByte(b[i:], '"') + i
			raw, err := base64.StdEncoding.DecodeString(string(b[i:j]))
			if err != nil {
				t.Fatal(err)
			}
			raw = bytes.Replace(raw, []byte("runc_1.0-1"), []byte("runc_1.0-2"), 1)
			b = append(append(b[:i:i], base64.StdEncoding.EncodeToString(raw)...), b[j:]...)
			os.WriteFile(p, b, 0o644)
			if _, err := Verify(b, set.Get(keys.Signing).Public()); !errors.Is(err, sign.ErrBadSignature) {
				t.Errorf("Verify(changed payload) = %v, want ErrBadSignature", err)
			}
		}},
		{"other key", filepath.Join(otherDir, "signing.pub"), func(*testing.T, string) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := copyDir(t)
			tt.tamper(t, d)
			if ok, out := verify(t, tt.pub, d, "disk.raw"); ok {
				t.Errorf("cosign verify-blob-attestation did not reject it:\n%s", out)
			}
		})
	}
}
