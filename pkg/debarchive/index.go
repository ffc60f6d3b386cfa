package debarchive

import (
	"errors"
	"fmt"
	"github.com/hardenvm/hardenvm/pkg/deb822"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Package is a binary package as a Packages index describes it: only the
// fields resolution and download need.
type Package struct {
	Name       string
	Version    Version
	Arch       string
	Filename   string // path from the archive root, under pool/
	Suite      string // the suite whose index listed it
	Size       int64
	SHA256     string
	Priority   string
	Depends    []Alternatives
	PreDepends []Alternatives
	Provides   []Relation
}

func (p *Package) String() string { return p.Name + " " + p.Version.String() }

// Index is the set of packages one architecture can install from a suite:
// for each name the highest version (of that architecture or "all"), and
// for each virtual name the packages providing it.
type Index struct {
	Arch      string
	packages  map[string]*Package
	providers map[string][]*Package
}

// NewIndex starts an empty index for arch.
func NewIndex(arch string) *Index {
	return &Index{Arch: arch, packages: map[string]*Package{}, providers: map[string][]*Package{}}
}

// Len is the number of real packages.
func (x *Index) Len() int { return len(x.packages) }

// Lookup returns the package called name, or nil.
func (x *Index) Lookup(name string) *Package { return x.packages[name] }

// Providers returns the packages that provide the virtual package name,
// sorted by name.
func (x *Index) Providers(name string) []*Package { return x.providers[name] }

// Add reads a Packages file (already decompressed) into the index. name
// labels errors. Stanzas of other architectures are skipped; where a name
// appears twice, the higher version wins.
func (x *Index) Add(r io.Reader, name string) error { return x.AddSuite(r, name, "") }

// AddSuite is Add for the Packages file of a suite, whose name the
// packages carry. Of equal versions in two suites, the one added first
// stays, so the order of a spec's suites decides.
func (x *Index) AddSuite(r io.Reader, name, suite string) error {
	pr := deb822.NewReader(r, name)
	pr.Keep = indexFields
	for {
		para, err := pr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		p, err := parsePackage(para)
		if err != nil {
			return fmt.Errorf("%s: line %d: %w", name, pr.Line(), err)
		}
		if p.Arch != x.Arch && p.Arch != "all" {
			continue
		}
		p.Suite = suite
		if old := x.packages[p.Name]; old != nil {
			if Compare(p.Version, old.Version) <= 0 {
				continue
			}
			x.removeProvides(old)
		}
		x.packages[p.Name] = p
		for _, pv := range p.Provides {
			ps := x.providers[pv.Name]
			i, _ := slices.BinarySearchFunc(ps, p.Name, func(a *Package, n string) int { return strings.Compare(a.Name, n) })
			x.providers[pv.Name] = slices.Insert(ps, i, p)
		}
	}
	return nil
}

func (x *Index) removeProvides(old *Package) {
	for _, pv := range old.Provides {
		x.providers[pv.Name] = slices.DeleteFunc(x.providers[pv.Name], func(p *Package) bool { return p == old })
	}
}

// indexFields are the Packages fields parsePackage reads.
var indexFields = map[string]bool{"Package": true, "Version": true, "Architecture": true, "Filename": true,
	"Size": true, "SHA256": true, "Priority": true, "Depends": true, "Pre-Depends": true, "Provides": true}

func parsePackage(para deb822.Paragraph) (*Package, error) {
	p := &Package{
		Name:     para["Package"],
		Arch:     para["Architecture"],
		Filename: para["Filename"],
		SHA256:   strings.ToLower(para["SHA256"]),
		Priority: para["Priority"],
	}
	if !validName(p.Name) {
		return nil, fmt.Errorf("Package %q is not a package name", p.Name)
	}
	var err error
	if p.Version, err = ParseVersion(para["Version"]); err != nil {
		return nil, fmt.Errorf("%s: %w", p.Name, err)
	}
	if p.Size, err = strconv.ParseInt(para["Size"], 10, 64); err != nil || p.Size <= 0 {
		return nil, fmt.Errorf("%s: Size %q is not a positive number", p.Name, para["Size"])
	}
	if len(p.SHA256) != 64 || strings.Trim(p.SHA256, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("%s: no valid SHA256 field: the package cannot be verified", p.Name)
	}
	if !strings.HasPrefix(p.Filename, "pool/") || strings.Contains(p.Filename, "..") {
		return nil, fmt.Errorf("%s: Filename %q is not under pool/", p.Name, p.Filename)
	}
	if p.Depends, err = ParseRelations(para["Depends"]); err != nil {
		return nil, fmt.Errorf("%s: Depends: %w", p.Name, err)
	}
	if p.PreDepends, err = ParseRelations(para["Pre-Depends"]); err != nil {
		return nil, fmt.Errorf("%s: Pre-Depends: %w", p.Name, err)
	}
	prov, err := ParseRelations(para["Provides"])
	if err != nil {
		return nil, fmt.Errorf("%s: Provides: %w", p.Name, err)
	}
	for _, alts := range prov {
		if len(alts) != 1 || (alts[0].Op != OpNone && alts[0].Op != OpEQ) {
			return nil, fmt.Errorf("%s: Provides %q: want names with an optional (= version)", p.Name, alts)
		}
		p.Provides = append(p.Provides, alts[0])
	}
	return p, nil
}
