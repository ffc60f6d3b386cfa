// Package fakearchive serves a fake Debian archive for tests: an httptest
// server on 127.0.0.1 with a signed InRelease, a Packages index (plain, gzip
// and by-hash) and .deb files, whose bytes a test may replace after signing
// to play a hostile mirror. The signing key is generated per test run.
package fakearchive

import (
	"bytes"
	"compress/gzip"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Pkg is a package the fake archive serves; its .deb is Body.
type Pkg struct {
	Name, Version, Arch string
	Depends, PreDepends string
	Provides, Priority  string
	Body                []byte
}

// Filename is the package's pool path in the main archive.
func (p Pkg) Filename() string { return p.poolPath("pool/main/") }

func (p Pkg) poolPath(pool string) string {
	v := p.Version
	if i := strings.IndexByte(v, ':'); i >= 0 {
		v = v[i+1:] // pool file names leave out the epoch
	}
	return fmt.Sprintf("%s%s/%s/%s_%s_%s.deb", pool, p.Name[:1], p.Name, p.Name, v, p.Arch)
}

// Archive is a Debian archive served from an httptest server on
// 127.0.0.1, signed with a key generated for the test. Files can be
// replaced after signing (Tamper) to play a hostile mirror.
type Archive struct {
	t       *testing.T
	root    string // "debian" or "debian-security"
	Server  *httptest.Server
	Entity  *openpgp.Entity
	Keyring openpgp.EntityList
	mu      sync.Mutex
	files   map[string][]byte
	hits    map[string]int
}

// SHA256 is the hex sha256 of b.
func SHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

var (
	testKeyOnce sync.Once
	testKey     *openpgp.Entity
)

// newKey makes an Ed25519 signing key (fast to generate), once per run.
func newKey(t *testing.T) *openpgp.Entity {
	testKeyOnce.Do(func() {
		e, err := openpgp.NewEntity("hardenvm test archive", "", "archive@test.invalid",
			&packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, DefaultHash: crypto.SHA256})
		if err != nil {
			t.Fatal(err)
		}
		testKey = e
	})
	return testKey
}

// New serves a main archive (…/debian) with one suite (component main,
// amd64), signed with the run's test key.
func New(t *testing.T, suite string, pkgs []Pkg) *Archive {
	t.Helper()
	return newArchive(t, "debian", "pool/main/", newKey(t), suite, pkgs)
}

// NewSecurity serves a security archive (…/debian-security, packages
// under pool/updates/main/ as Debian's) with one suite, signed with a key
// of its own, as Debian signs its security archive.
func NewSecurity(t *testing.T, suite string, pkgs []Pkg) *Archive {
	t.Helper()
	e, err := openpgp.NewEntity("hardenvm test security archive", "", "security@test.invalid",
		&packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, DefaultHash: crypto.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	return newArchive(t, "debian-security", "pool/updates/main/", e, suite, pkgs)
}

func newArchive(t *testing.T, root, pool string, key *openpgp.Entity, suite string, pkgs []Pkg) *Archive {
	a := &Archive{t: t, root: root, files: map[string][]byte{}, hits: map[string]int{}}
	a.Entity = key
	a.Keyring = openpgp.EntityList{a.Entity}
	var idx strings.Builder
	for _, p := range pkgs {
		if p.Arch == "" {
			p.Arch = "amd64"
		}
		if p.Body == nil {
			p.Body = []byte("!<arch>\n" + p.Name + " " + p.Version + "\n")
		}
		a.files[p.poolPath(pool)] = p.Body
		fmt.Fprintf(&idx, "Package: %s\nVersion: %s\nArchitecture: %s\n", p.Name, p.Version, p.Arch)
		if p.Priority != "" {
			fmt.Fprintf(&idx, "Priority: %s\n", p.Priority)
		}
		for _, f := range [][2]string{{"Pre-Depends", p.PreDepends}, {"Depends", p.Depends}, {"Provides", p.Provides}} {
			if f[1] != "" {
				fmt.Fprintf(&idx, "%s: %s\n", f[0], f[1])
			}
		}
		fmt.Fprintf(&idx, "Filename: %s\nSize: %d\nSHA256: %s\nDescription: test package\n multi-line description\n .\n end\n\n",
			p.poolPath(pool), len(p.Body), SHA256(p.Body))
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write([]byte(idx.String()))
	zw.Close()
	plain := []byte(idx.String())
	dir := "dists/" + suite + "/main/binary-amd64/"
	a.files[dir+"Packages.gz"] = gz.Bytes()
	a.files[dir+"by-hash/SHA256/"+SHA256(gz.Bytes())] = gz.Bytes()
	a.files[dir+"Packages"] = plain
	release := fmt.Sprintf(`Origin: Test
Suite: stable
Codename: %s
Date: Sat, 21 Nov 2026 09:15:44 UTC
Acquire-By-Hash: yes
Architectures: amd64
Components: main
SHA256:
 %s %d main/binary-amd64/Packages
 %s %d main/binary-amd64/Packages.gz
`, suite, SHA256(plain), len(plain), SHA256(gz.Bytes()), len(gz.Bytes()))
	a.files["dists/"+suite+"/InRelease"] = a.sign(release)
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.Server.Close)
	return a
}

func (a *Archive) sign(text string) []byte {
	var b bytes.Buffer
	w, err := clearsign.Encode(&b, a.Entity.PrivateKey, &packet.Config{DefaultHash: crypto.SHA256})
	if err != nil {
		a.t.Fatal(err)
	}
	w.Write([]byte(text))
	w.Close()
	return b.Bytes()
}

func (a *Archive) serve(w http.ResponseWriter, r *http.Request) {
	p, ok := strings.CutPrefix(r.URL.Path, "/"+a.root+"/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	a.mu.Lock()
	b, ok := a.files[p]
	a.hits[p]++
	a.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Write(b)
}

// Mirror is the archive's base URL.
func (a *Archive) Mirror() string { return a.Server.URL + "/" + a.root }

// Tamper replaces a served file's bytes.
func (a *Archive) Tamper(path string, f func([]byte) []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	b, ok := a.files[path]
	if !ok {
		a.t.Fatalf("Tamper: no file %s", path)
	}
	a.files[path] = f(bytes.Clone(b))
}

// Get returns a served file.
func (a *Archive) Get(path string) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.files[path]
}

// Hits counts requests for path.
func (a *Archive) Hits(path string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hits[path]
}

// WriteKeyring stores the public key, armored, at path (a spec's keyring),
// with the keys of the other archives given.
func (a *Archive) WriteKeyring(path string, others ...*Archive) {
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	for _, x := range append([]*Archive{a}, others...) {
		if err := x.Entity.Serialize(w); err != nil {
			a.t.Fatal(err)
		}
	}
	w.Close()
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		a.t.Fatal(err)
	}
}

// Remove stops serving path.
func (a *Archive) Remove(path string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.files, path)
}

// Put serves data at path.
func (a *Archive) Put(path string, data []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.files[path] = data
}
