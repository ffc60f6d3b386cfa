package deb

import (
	"context"
	"fmt"
	"os"
	"slices"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/pkg/spec"
)

// KeyringFor returns the keyring a spec trusts: its own, or the host's
// Debian archive keyring.
func KeyringFor(s *spec.Spec) (openpgp.EntityList, error) {
	if s.Debian.Keyring != "" {
		return LoadKeyring(s.Debian.Keyring)
	}
	kr, err := LoadKeyring(DefaultKeyring)
	if err != nil {
		return nil, fmt.Errorf("%w (install debian-archive-keyring, or set debian.keyring in %s)", err, s.Path)
	}
	return kr, nil
}

// Lock resolves a spec against the archive: the verified InRelease, the
// dependency closure of its packages, and the kernel and stub packages
// (boot inputs, locked without their dependencies).
func Lock(ctx context.Context, c *Client, s *spec.Spec) (*spec.Lock, error) {
	rel, err := c.Release(ctx, s.Debian.Suite)
	if err != nil {
		return nil, err
	}
	x, err := c.Index(ctx, s.Debian.Suite, rel, s.Debian.Components, s.Debian.Arch)
	if err != nil {
		return nil, err
	}
	closure, err := x.Resolve(s.RootPackages())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Path, err)
	}
	l := &spec.Lock{
		Name:       s.Name,
		Suite:      s.Debian.Suite,
		Arch:       s.Debian.Arch,
		Components: s.Debian.Components,
		InRelease:  rel.SHA256,
		SignedBy:   rel.SignedBy,
		Requested:  slices.Sorted(slices.Values(s.RootPackages())),
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
		return nil, fmt.Errorf("%s: stub: package %q is not in %s %v for %s", s.Path, s.Stub, s.Debian.Suite, s.Debian.Components, s.Debian.Arch)
	}
	l.Stub = pinned(stub)
	c.log().Info("resolved", "spec", s.Path, "packages", len(l.Packages), "kernel", l.Kernel[len(l.Kernel)-1].Name, "stub", l.Stub.Version)
	return l, nil
}

func pinned(p *Package) spec.Package {
	return spec.Package{Name: p.Name, Version: p.Version.String(), Arch: p.Arch, Path: p.Filename, SHA256: p.SHA256, Size: p.Size}
}

// WriteLock locks the spec at specPath and writes its lock file
// atomically (nothing is written when anything fails).
func WriteLock(ctx context.Context, c *Client, specPath string) (*spec.Lock, string, error) {
	s, err := spec.Load(specPath)
	if err != nil {
		return nil, "", err
	}
	if c.Keyring == nil {
		if c.Keyring, err = KeyringFor(s); err != nil {
			return nil, "", err
		}
	}
	l, err := Lock(ctx, c, s)
	if err != nil {
		return nil, "", err
	}
	b, err := l.Marshal()
	if err != nil {
		return nil, "", err
	}
	out := spec.LockPath(specPath)
	if old, err := os.ReadFile(out); err == nil && string(old) == string(b) {
		return l, out, nil // unchanged: leave the file (and its mtime) alone
	}
	if err := atomicfile.WriteFile(out, b, 0o644); err != nil {
		return nil, "", err
	}
	return l, out, nil
}
