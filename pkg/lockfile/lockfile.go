// Package lockfile makes and updates an image spec's lock file: it
// resolves the spec's packages against the Debian archives of its suites
// (with package deb, the archive client), writes the lock atomically,
// lists what changed since the last lock (security updates first), and
// says what each update fixes, from the new package's Debian changelog;
// and fetches the .deb files a lock pins, each from its suite's archive.
package lockfile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/pkg/debarchive"
	"github.com/hardenvm/hardenvm/pkg/debchangelog"
	"github.com/hardenvm/hardenvm/pkg/imagespec"
)

// KeyringFor returns the keyring a spec trusts: its own, or the host's
// Debian archive keyring.
func KeyringFor(s *imagespec.Spec) (openpgp.EntityList, error) {
	if s.Debian.Keyring != "" {
		return debarchive.LoadKeyring(s.Debian.Keyring)
	}
	kr, err := debarchive.LoadKeyring(debarchive.DefaultKeyring)
	if err != nil {
		return nil, fmt.Errorf("%w (install debian-archive-keyring, or set debian.keyring in %s)", err, s.Path)
	}
	return kr, nil
}

// Lock resolves a spec against the archives: the verified InRelease of
// each of its suites, the dependency closure of its packages over all of
// them (the highest version of each package wins, whichever suite has it),
// and the kernel and stub packages (boot inputs, locked without their
// dependencies). Each pinned package records its suite.
func Lock(ctx context.Context, c *debarchive.Client, s *imagespec.Spec) (*imagespec.Lock, error) {
	l := &imagespec.Lock{
		Version:    imagespec.LockVersion,
		Name:       s.Name,
		Arch:       s.Debian.Arch,
		Components: s.Debian.Components,
		Requested:  slices.Sorted(slices.Values(s.RootPackages())),
	}
	x := debarchive.NewIndex(s.Debian.Arch)
	for _, suite := range s.Debian.Suites {
		c.Steps.Begin("reading %s (InRelease, Packages)", suite)
		rel, err := c.Release(ctx, suite)
		if err != nil {
			return nil, err
		}
		if err := c.Index(ctx, x, rel, s.Debian.Components); err != nil {
			return nil, err
		}
		l.Suites = append(l.Suites, imagespec.LockSuite{Name: suite, Archive: debarchive.ArchiveOf(suite), InRelease: rel.SHA256, SignedBy: rel.SignedBy})
	}
	c.Steps.Begin("resolving %d packages", len(s.RootPackages()))
	closure, err := x.Resolve(s.RootPackages())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Path, err)
	}
	for _, p := range closure {
		l.Packages = append(l.Packages, pinned(p))
	}
	kernel, err := x.KernelPackages(s.Kernel.Package)
	if err != nil {
		return nil, fmt.Errorf("%s: kernel.package: %w", s.Path, err)
	}
	for _, p := range kernel {
		l.Kernel = append(l.Kernel, pinned(p))
	}
	stub := x.Lookup(s.Stub)
	if stub == nil {
		return nil, fmt.Errorf("%s: stub: package %q is not in %v %v for %s", s.Path, s.Stub, s.Debian.Suites, s.Debian.Components, s.Debian.Arch)
	}
	l.Stub = pinned(stub)
	if c.Log != nil {
		c.Log.Info("resolved", "spec", s.Path, "packages", len(l.Packages), "kernel", l.Kernel[len(l.Kernel)-1].Name, "stub", l.Stub.Version)
	}
	return l, nil
}

func pinned(p *debarchive.Package) imagespec.Package {
	return imagespec.Package{Name: p.Name, Version: p.Version.String(), Arch: p.Arch, Suite: p.Suite, Path: p.Filename, SHA256: p.SHA256, Size: p.Size}
}

// Update is what locking a spec again changes in its lock file.
type Update struct {
	Path     string          // the lock file
	Old, New *imagespec.Lock // Old is nil when there was no lock file
	Changes  []Change        // security updates first, then by name
	Written  bool            // whether Path was (re)written
}

// Change is one package whose pin moves: to another version (Old and New
// set), into the lock (Old nil) or out of it (New nil).
type Change struct {
	Name     string
	Old, New *imagespec.Package
	// Entries are the new version's changelog entries after the old
	// version (see Explain); Note says why there are none when they could
	// not be read.
	Entries []debchangelog.Entry
	Note    string
}

// CVEs are the CVE ids the change's changelog entries name, sorted.
func (c Change) CVEs() []string { return debchangelog.CVEs(c.Entries) }

// Security reports whether the new version comes from a security suite.
func (c Change) Security() bool {
	return c.New != nil && debarchive.ArchiveOf(c.New.Suite) == debarchive.ArchiveSecurity
}

func (c Change) String() string {
	switch {
	case c.Old == nil:
		return fmt.Sprintf("%s: added %s (%s)", c.Name, c.New.Version, c.New.Suite)
	case c.New == nil:
		return fmt.Sprintf("%s: removed %s", c.Name, c.Old.Version)
	}
	return fmt.Sprintf("%s: %s -> %s (%s)", c.Name, c.Old.Version, c.New.Version, c.New.Suite)
}

// Diff lists the packages whose pins differ between two locks (old may be
// nil): security updates first, then by name. A package pinned twice at
// one version (as a kernel package and in the root) counts once.
func Diff(old, new *imagespec.Lock) []Change {
	index := func(l *imagespec.Lock) map[string]*imagespec.Package {
		m := map[string]*imagespec.Package{}
		if l == nil {
			return m
		}
		for _, p := range l.All() {
			m[p.Name+":"+p.Arch] = &p
		}
		return m
	}
	before, after := index(old), index(new)
	var out []Change
	for k, n := range after {
		if o := before[k]; o == nil || o.Version != n.Version || o.SHA256 != n.SHA256 {
			out = append(out, Change{Name: n.Name, Old: o, New: n})
		}
	}
	for k, o := range before {
		if after[k] == nil {
			out = append(out, Change{Name: o.Name, Old: o})
		}
	}
	slices.SortFunc(out, func(a, b Change) int {
		if a.Security() != b.Security() {
			if a.Security() {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// Relock locks the spec at specPath again and compares the result with
// its lock file, each change explained from its changelog (Explain). With write set the lock file is replaced atomically when
// it changed (nothing is written when anything fails); without, nothing
// is written: that is "lock --check".
func Relock(ctx context.Context, c *debarchive.Client, specPath string, write bool) (*Update, error) {
	s, err := imagespec.Load(specPath)
	if err != nil {
		return nil, err
	}
	if c.Keyring == nil {
		if c.Keyring, err = KeyringFor(s); err != nil {
			return nil, err
		}
	}
	u := &Update{Path: imagespec.LockPath(specPath)}
	old, oldErr := os.ReadFile(u.Path)
	if oldErr == nil {
		if u.Old, err = imagespec.ParseLock(u.Path, old); err != nil && !write {
			return nil, err
		}
	} else if !errors.Is(oldErr, os.ErrNotExist) {
		return nil, fmt.Errorf("lock: %w", oldErr)
	}
	if !write {
		if u.Old == nil {
			return nil, fmt.Errorf("%s has no lock file %s: run 'hardenvm lock %s'", specPath, u.Path, specPath)
		}
		if err := u.Old.Check(s, u.Path); err != nil {
			return nil, err
		}
	}
	if u.New, err = Lock(ctx, c, s); err != nil {
		return nil, err
	}
	u.Changes = Diff(u.Old, u.New)
	Explain(ctx, c, u)
	b, err := u.New.Marshal()
	if err != nil {
		return nil, err
	}
	if !write || string(old) == string(b) {
		return u, nil // unchanged: leave the file (and its mtime) alone
	}
	if err := atomicfile.WriteFile(u.Path, b, 0o644); err != nil {
		return nil, err
	}
	u.Written = true
	return u, nil
}

// WriteLock locks the spec at specPath and writes its lock file
// atomically (nothing is written when anything fails).
func WriteLock(ctx context.Context, c *debarchive.Client, specPath string) (*imagespec.Lock, string, error) {
	u, err := Relock(ctx, c, specPath, true)
	if err != nil {
		return nil, "", err
	}
	return u.New, u.Path, nil
}
