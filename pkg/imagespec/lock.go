package imagespec

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
)

// LockVersion is the lock file format written by this code. Version 2
// locks several suites (the release, its updates, its security updates)
// and records each package's suite.
const LockVersion = 2

// Lock pins every input a spec names to exact bytes: each suite's signed
// InRelease by its sha256, and each .deb by version, pool path, sha256 and
// size. The build reads only the lock, so two builds of one lock use the
// same inputs. The mirror is deliberately absent: any mirror serving the
// same bytes will do.
type Lock struct {
	Version    int      `json:"lockVersion"`
	Name       string   `json:"name"`
	Arch       string   `json:"arch"`
	Components []string `json:"components"`
	// Suites are the spec's suites in its order, each with the InRelease
	// the packages were resolved from.
	Suites []LockSuite `json:"suites"`
	// Requested is the spec's package list, sorted: what Packages is the
	// dependency closure of.
	Requested []string `json:"requested"`
	// Kernel and Stub are boot inputs, taken apart rather than installed,
	// so their installation dependencies (kmod, initramfs-tools) are not
	// pinned. Kernel is the spec's kernel package first, then the
	// linux-image packages it depends on: a metapackage such as
	// linux-image-cloud-amd64 brings the versioned image that holds vmlinuz
	// and the modules.
	Kernel   []Package `json:"kernel"`
	Stub     Package   `json:"stub"`
	Packages []Package `json:"packages"`
}

// LockSuite is one suite as it was locked. Archive names the archive root
// the suite lives in ("debian", "debian-security"): the last element of a
// mirror's path, never a host.
type LockSuite struct {
	Name    string `json:"name"`
	Archive string `json:"archive"`
	// InRelease is the sha256 of the suite's InRelease file; SignedBy the
	// fingerprint of the key that signed it.
	InRelease string `json:"inReleaseSha256"`
	SignedBy  string `json:"signedBy"`
}

// Suite returns the locked suite called name, or nil.
func (l *Lock) Suite(name string) *LockSuite {
	for i := range l.Suites {
		if l.Suites[i].Name == name {
			return &l.Suites[i]
		}
	}
	return nil
}

// Release is the first locked suite, the release the others update
// (trixie for trixie-updates and trixie-security): the distribution a
// package URL names.
func (l *Lock) Release() string {
	if len(l.Suites) == 0 {
		return ""
	}
	return l.Suites[0].Name
}

// SuiteNames are the locked suites' names in order.
func (l *Lock) SuiteNames() []string {
	names := make([]string, len(l.Suites))
	for i, su := range l.Suites {
		names[i] = su.Name
	}
	return names
}

// Package is one pinned .deb. Path is relative to the mirror's root (the
// Filename field of the Packages index).
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch"`
	Suite   string `json:"suite"` // one of the lock's suites
	Path    string `json:"path"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
}

// All returns every pinned package: the root filesystem's, then kernel and stub.
func (l *Lock) All() []Package {
	all := append(slices.Clone(l.Packages), l.Kernel...)
	return append(all, l.Stub)
}

// LockPath is the lock file beside a spec: images/minimal.yml ->
// images/minimal.lock.json.
func LockPath(specPath string) string {
	for _, ext := range []string{".yml", ".yaml"} {
		if strings.HasSuffix(specPath, ext) {
			return strings.TrimSuffix(specPath, ext) + ".lock.json"
		}
	}
	return specPath + ".lock.json"
}

// Marshal returns the lock's canonical bytes: packages sorted, indented
// JSON, a final newline. Equal locks give equal bytes.
func (l *Lock) Marshal() ([]byte, error) {
	c := *l
	c.Version = LockVersion
	c.Requested = sorted(c.Requested)
	c.Packages = slices.Clone(c.Packages)
	slices.SortFunc(c.Packages, func(a, b Package) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Arch, b.Arch)) })
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&c); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	return b.Bytes(), nil
}

// LoadLock reads and checks a lock file.
func LoadLock(file string) (*Lock, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	return ParseLock(file, data)
}

var (
	sha256RE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	versionRE = regexp.MustCompile(`^[A-Za-z0-9.+~:-]+$`)
	fprRE     = regexp.MustCompile(`^[0-9A-F]{40,64}$`)
)

// ParseLock parses a lock file strictly (unknown fields, bad digests, paths
// outside the pool or unsorted packages are errors naming the file and line).
func ParseLock(file string, data []byte) (*Lock, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var l Lock
	if err := dec.Decode(&l); err != nil {
		return nil, jsonError(file, data, err)
	}
	if dec.More() {
		return nil, &Error{File: file, Line: lineAt(data, dec.InputOffset()), Msg: "data after the lock object"}
	}
	fail := func(field, format string, args ...any) error {
		return &Error{File: file, Field: field, Msg: fmt.Sprintf(format, args...) + "; regenerate it with 'hardenvm lock'"}
	}
	switch {
	case l.Version != LockVersion:
		return nil, fail("lockVersion", "%d: this hardenvm reads version %d", l.Version, LockVersion)
	case !nameRE.MatchString(l.Name):
		return nil, fail("name", "%q is not a spec name", l.Name)
	case !wordRE.MatchString(l.Arch):
		return nil, fail("arch", "%q is not an architecture", l.Arch)
	case len(l.Suites) == 0:
		return nil, fail("suites", "missing")
	case len(l.Components) == 0:
		return nil, fail("components", "missing")
	}
	for i, c := range l.Components {
		if !wordRE.MatchString(c) {
			return nil, fail(fmt.Sprintf("components[%d]", i), "%q is not a component", c)
		}
	}
	for i, su := range l.Suites {
		field := func(f string) string { return fmt.Sprintf("suites[%d].%s", i, f) }
		switch {
		case !wordRE.MatchString(su.Name) || l.Suite(su.Name) != &l.Suites[i]:
			return nil, fail(field("name"), "%q is not a suite, or is listed twice", su.Name)
		case !wordRE.MatchString(su.Archive):
			return nil, fail(field("archive"), "%q is not an archive name like \"debian\"", su.Archive)
		case !sha256RE.MatchString(su.InRelease):
			return nil, fail(field("inReleaseSha256"), "want 64 lower-case hex digits")
		case !fprRE.MatchString(su.SignedBy):
			return nil, fail(field("signedBy"), "want an OpenPGP fingerprint in upper-case hex")
		}
	}
	if !slices.IsSorted(l.Requested) || len(slices.Compact(slices.Clone(l.Requested))) != len(l.Requested) || len(l.Requested) == 0 {
		return nil, fail("requested", "want a non-empty sorted list without repeats")
	}
	for i, p := range l.Requested {
		if !pkgRE.MatchString(p) {
			return nil, fail(fmt.Sprintf("requested[%d]", i), "%q is not a package name", p)
		}
	}
	if len(l.Kernel) == 0 {
		return nil, fail("kernel", "missing")
	}
	for i := range l.Kernel {
		if err := l.checkPackage(&l.Kernel[i]); err != nil {
			return nil, fail(fmt.Sprintf("kernel[%d]", i), "%v", err)
		}
	}
	if err := l.checkPackage(&l.Stub); err != nil {
		return nil, fail("stub", "%v", err)
	}
	for i := range l.Packages {
		p := &l.Packages[i]
		if err := l.checkPackage(p); err != nil {
			return nil, fail(fmt.Sprintf("packages[%d]", i), "%v", err)
		}
		if i > 0 && l.Packages[i-1].Name >= p.Name {
			return nil, fail(fmt.Sprintf("packages[%d]", i), "%q: packages must be sorted by name, each once", p.Name)
		}
	}
	return &l, nil
}

func (l *Lock) checkPackage(p *Package) error {
	switch {
	case l.Suite(p.Suite) == nil:
		return fmt.Errorf("%s: suite %q is not one of the lock's suites %v", p.Name, p.Suite, l.SuiteNames())
	case !pkgRE.MatchString(p.Name):
		return fmt.Errorf("name %q is not a package name", p.Name)
	case !versionRE.MatchString(p.Version):
		return fmt.Errorf("%s: version %q is not a Debian version", p.Name, p.Version)
	case !wordRE.MatchString(p.Arch):
		return fmt.Errorf("%s: arch %q is not an architecture", p.Name, p.Arch)
	case !sha256RE.MatchString(p.SHA256):
		return fmt.Errorf("%s: sha256 %q is not 64 lower-case hex digits", p.Name, p.SHA256)
	case p.Size <= 0:
		return fmt.Errorf("%s: size %d must be positive", p.Name, p.Size)
	case !strings.HasPrefix(p.Path, "pool/") || path.Clean(p.Path) != p.Path || !strings.HasSuffix(p.Path, ".deb") ||
		strings.Contains(p.Path, "..") || strings.ContainsAny(p.Path, "?#%\\ \t\n"):
		return fmt.Errorf("%s: path %q is not a .deb under pool/", p.Name, p.Path)
	}
	return nil
}

func jsonError(file string, data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return &Error{File: file, Line: lineAt(data, se.Offset), Msg: "JSON syntax: " + se.Error()}
	case errors.As(err, &te):
		return &Error{File: file, Line: lineAt(data, te.Offset), Field: te.Field, Msg: fmt.Sprintf("want a %s, got a JSON %s", te.Type, te.Value)}
	}
	return &Error{File: file, Msg: "JSON: " + err.Error()}
}

func lineAt(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	return bytes.Count(data[:off], []byte("\n")) + 1
}

// Check reports whether the lock was made from this spec. A spec edited
// after locking (a package added or removed, another suite, kernel or stub)
// is an error that says what differs and how to fix it.
func (l *Lock) Check(s *Spec, lockFile string) error {
	var diffs []string
	ne := func(what string, spec, lock any) {
		diffs = append(diffs, fmt.Sprintf("%s: spec has %v, lock has %v", what, spec, lock))
	}
	if s.Name != l.Name {
		ne("name", s.Name, l.Name)
	}
	if !slices.Equal(s.Debian.Suites, l.SuiteNames()) {
		ne("debian.suites", s.Debian.Suites, l.SuiteNames())
	}
	if s.Debian.Arch != l.Arch {
		ne("debian.arch", s.Debian.Arch, l.Arch)
	}
	if !slices.Equal(s.Debian.Components, l.Components) {
		ne("debian.components", s.Debian.Components, l.Components)
	}
	want := sorted(s.Packages)
	if !slices.Equal(want, l.Requested) {
		var add, del []string
		for _, p := range want {
			if !slices.Contains(l.Requested, p) {
				add = append(add, p)
			}
		}
		for _, p := range l.Requested {
			if !slices.Contains(want, p) {
				del = append(del, p)
			}
		}
		diffs = append(diffs, fmt.Sprintf("packages: not locked %v, locked but no longer in the spec %v", add, del))
	}
	if len(l.Kernel) == 0 || s.Kernel.Package != l.Kernel[0].Name {
		ne("kernel.package", s.Kernel.Package, kernelName(l))
	}
	if s.Stub != l.Stub.Name {
		ne("stub", s.Stub, l.Stub.Name)
	}
	for _, p := range l.Requested {
		if !slices.ContainsFunc(l.Packages, func(q Package) bool { return q.Name == p }) {
			diffs = append(diffs, fmt.Sprintf("packages: %s is requested but not pinned", p))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("%s does not match %s (%s); run 'hardenvm lock %s'", lockFile, s.Path, strings.Join(diffs, "; "), s.Path)
}

func kernelName(l *Lock) string {
	if len(l.Kernel) == 0 {
		return "none"
	}
	return l.Kernel[0].Name
}

// LoadLocked reads a spec and its lock file and checks that they agree:
// what a build starts from.
func LoadLocked(specPath string) (*Spec, *Lock, error) {
	s, err := Load(specPath)
	if err != nil {
		return nil, nil, err
	}
	lf := LockPath(specPath)
	l, err := LoadLock(lf)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("%s has no lock file %s; run 'hardenvm lock %s'", specPath, lf, specPath)
		}
		return nil, nil, err
	}
	if err := l.Check(s, lf); err != nil {
		return nil, nil, err
	}
	return s, l, nil
}
