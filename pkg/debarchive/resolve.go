package debarchive

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// UnsatisfiableError explains why a dependency cannot be met: the chain of
// packages from a requested one down to the relation that fails, and why
// each alternative of it fails.
type UnsatisfiableError struct {
	Chain    []string // "busybox-static 1:1.37.0-6", "libc6 2.41-12", ...: requested first
	Field    string   // "Depends", "Pre-Depends" or "requested"
	Relation Alternatives
	Reasons  []string // one per alternative
}

func (e *UnsatisfiableError) Error() string {
	if len(e.Chain) == 0 {
		return fmt.Sprintf("cannot install requested package %s: %s", e.Relation, strings.Join(e.Reasons, "; "))
	}
	return fmt.Sprintf("unsatisfiable dependency: %s %s: %s: %s",
		strings.Join(e.Chain, " -> "), e.Field, e.Relation, strings.Join(e.Reasons, "; "))
}

// Resolve returns the dependency closure of the requested packages,
// sorted by name: Pre-Depends and Depends, never Recommends or Suggests.
// Alternatives are tried in order; a group already met by a chosen package
// is not expanded again. A virtual package is met by its real package of
// that name if there is one, else by a provider (one already chosen, else
// the most important by Priority, then by name, so the result is stable).
func (x *Index) Resolve(requested []string) ([]*Package, error) {
	r := &resolver{x: x, chosen: map[string]*Package{}, parent: map[string]*Package{}, provided: map[string][]*Package{}}
	var queue []*Package
	for _, name := range requested {
		p, reasons := r.candidate(Relation{Name: name})
		if p == nil {
			return nil, &UnsatisfiableError{Field: "requested", Relation: Alternatives{{Name: name}}, Reasons: reasons}
		}
		if r.choose(p, nil) {
			queue = append(queue, p)
		}
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, dep := range []struct {
			field  string
			groups []Alternatives
		}{{"Pre-Depends", p.PreDepends}, {"Depends", p.Depends}} {
			for _, alts := range dep.groups {
				if r.met(alts) {
					continue
				}
				var reasons []string
				var pick *Package
				for _, alt := range alts {
					c, why := r.candidate(alt)
					if c != nil {
						pick = c
						break
					}
					reasons = append(reasons, why...)
				}
				if pick == nil {
					return nil, &UnsatisfiableError{Chain: r.chain(p), Field: dep.field, Relation: alts, Reasons: reasons}
				}
				if r.choose(pick, p) {
					queue = append(queue, pick)
				}
			}
		}
	}
	out := make([]*Package, 0, len(r.chosen))
	for _, p := range r.chosen {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *Package) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

type resolver struct {
	x        *Index
	chosen   map[string]*Package
	parent   map[string]*Package // which package's dependency chose each (nil: requested)
	provided map[string][]*Package
}

// chain is how p came to be chosen: requested package first.
func (r *resolver) chain(p *Package) []string {
	var c []string
	for ; p != nil; p = r.parent[p.Name] {
		c = append(c, p.String())
	}
	slices.Reverse(c)
	return c
}

// choose records p as installed because of parent; false if it already was.
func (r *resolver) choose(p, parent *Package) bool {
	if r.chosen[p.Name] != nil {
		return false
	}
	r.chosen[p.Name] = p
	r.parent[p.Name] = parent
	for _, pv := range p.Provides {
		r.provided[pv.Name] = append(r.provided[pv.Name], p)
	}
	return true
}

// met reports whether a chosen package already satisfies one alternative.
func (r *resolver) met(alts Alternatives) bool {
	for _, a := range alts {
		if p := r.chosen[a.Name]; p != nil && a.Satisfied(p.Version) {
			return true
		}
		for _, p := range r.provided[a.Name] {
			if providesSatisfies(p, a) {
				return true
			}
		}
	}
	return false
}

// candidate finds the package that would satisfy a, or says why none does.
func (r *resolver) candidate(a Relation) (*Package, []string) {
	if a.ArchQ != "" && a.ArchQ != "any" && a.ArchQ != "native" && a.ArchQ != r.x.Arch {
		return nil, []string{fmt.Sprintf("%s: architecture %s is not %s", a.Name, a.ArchQ, r.x.Arch)}
	}
	var reasons []string
	if p := r.x.Lookup(a.Name); p != nil {
		if a.Satisfied(p.Version) {
			return p, nil
		}
		if c := r.chosen[a.Name]; c != nil {
			reasons = append(reasons, fmt.Sprintf("%s %s is already chosen and is not %s %s", a.Name, c.Version, a.Op, a.Version))
		} else {
			reasons = append(reasons, fmt.Sprintf("%s has version %s, not %s %s", a.Name, p.Version, a.Op, a.Version))
		}
	}
	var ok []*Package
	for _, p := range r.x.Providers(a.Name) {
		if providesSatisfies(p, a) {
			ok = append(ok, p)
		}
	}
	if len(ok) == 0 {
		if len(reasons) == 0 {
			if len(r.x.Providers(a.Name)) > 0 {
				return nil, []string{fmt.Sprintf("no provider of %s has a version %s %s", a.Name, a.Op, a.Version)}
			}
			return nil, []string{fmt.Sprintf("%s is not in the index (%s)", a.Name, r.x.Arch)}
		}
		return nil, reasons
	}
	for _, p := range ok {
		if r.chosen[p.Name] != nil {
			return p, nil
		}
	}
	slices.SortStableFunc(ok, func(a, b *Package) int {
		return cmp.Or(cmp.Compare(priorityRank(a.Priority), priorityRank(b.Priority)), strings.Compare(a.Name, b.Name))
	})
	return ok[0], nil
}

// providesSatisfies: an unversioned dependency is met by any Provides of
// the name; a versioned one only by a versioned Provides that satisfies it.
func providesSatisfies(p *Package, a Relation) bool {
	for _, pv := range p.Provides {
		if pv.Name != a.Name {
			continue
		}
		if a.Op == OpNone || (pv.Op == OpEQ && a.Satisfied(pv.Version)) {
			return true
		}
	}
	return false
}

func priorityRank(p string) int {
	switch p {
	case "required":
		return 0
	case "important":
		return 1
	case "standard":
		return 2
	case "optional":
		return 3
	}
	return 4
}

// KernelPackages returns the kernel package name and the linux-image-*
// packages it depends on, transitively: a metapackage such as
// linux-image-cloud-amd64 depends on the versioned image that holds vmlinuz
// and the modules. The kernel's other dependencies (kmod, linux-base,
// initramfs-tools) install it on a running system; hardenvm takes the image
// apart instead, so they are not followed.
func (x *Index) KernelPackages(name string) ([]*Package, error) {
	p := x.Lookup(name)
	if p == nil {
		return nil, fmt.Errorf("package %q is not in the index (%s)", name, x.Arch)
	}
	out := []*Package{p}
	for i := 0; i < len(out); i++ {
		for _, alts := range slices.Concat(out[i].PreDepends, out[i].Depends) {
			a := alts[0]
			if !strings.HasPrefix(a.Name, "linux-image-") {
				continue
			}
			q := x.Lookup(a.Name)
			if q == nil || !a.Satisfied(q.Version) {
				return nil, &UnsatisfiableError{Chain: []string{out[i].String()}, Field: "Depends", Relation: alts,
					Reasons: []string{fmt.Sprintf("%s is not in the index with a matching version", a.Name)}}
			}
			if !slices.Contains(out, q) {
				out = append(out, q)
			}
		}
	}
	return out, nil
}
