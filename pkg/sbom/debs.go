package sbom

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/hardenvm/hardenvm/pkg/debchangelog"
	"github.com/hardenvm/hardenvm/pkg/debcopyright"
	"github.com/hardenvm/hardenvm/pkg/debpkg"
)

// debInfo is what one .deb says about itself.
type debInfo struct {
	source   string // source package name
	srcVer   string // source version when it differs from the binary's
	licenses []string
	cves     []string
	cveFrom  string // the package whose changelog named them, when another
	noLog    error  // why there is no changelog
}

// debComponents reads every package (in parallel: decompressing data.tar
// is the slow part) and returns their components and the CVEs their
// changelogs name.
func debComponents(pkgs []Package, distro string) ([]cdx.Component, []cdx.Vulnerability, error) {
	docs := make([]*debpkg.Docs, len(pkgs))
	errs := make([]error, len(pkgs))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, p := range pkgs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			docs[i], errs[i] = readDocs(p)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	byName := map[string]*debpkg.Docs{}
	for i, p := range pkgs {
		byName[p.Name] = docs[i]
	}

	var comps []cdx.Component
	affects := map[string][]cdx.Affects{}
	for i, p := range pkgs {
		info, err := describe(p, docs[i], byName)
		if err != nil {
			return nil, nil, err
		}
		ref := PackageURL(p.Name, p.Version, p.Arch, distro)
		c := cdx.Component{BOMRef: ref, Type: cdx.ComponentTypeLibrary, Name: p.Name, Version: p.Version, PackageURL: ref,
			Hashes: &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: p.SHA256}}}
		if len(info.licenses) > 0 {
			var ls cdx.Licenses
			for _, l := range info.licenses {
				ls = append(ls, cdx.LicenseChoice{License: &cdx.License{Name: l}})
			}
			c.Licenses = &ls
		}
		props := []cdx.Property{{Name: "hardenvm:role", Value: p.Role}, {Name: "debian:source", Value: info.source}}
		if info.srcVer != "" {
			props = append(props, cdx.Property{Name: "debian:source-version", Value: info.srcVer})
		}
		if p.Suite != "" {
			props = append(props, cdx.Property{Name: "debian:suite", Value: p.Suite})
		}
		if info.cveFrom != "" {
			props = append(props, cdx.Property{Name: "hardenvm:changelog-of", Value: info.cveFrom})
		}
		if info.noLog != nil {
			props = append(props, cdx.Property{Name: "hardenvm:no-changelog", Value: info.noLog.Error()})
		}
		slices.SortFunc(props, func(a, b cdx.Property) int { return strings.Compare(a.Name, b.Name) })
		c.Properties = &props
		comps = append(comps, c)
		for _, id := range info.cves {
			affects[id] = append(affects[id], cdx.Affects{Ref: ref,
				Range: &[]cdx.AffectedVersions{{Version: p.Version, Status: cdx.VulnerabilityStatusNotAffected}}})
		}
	}
	return comps, vulnerabilities(affects), nil
}

func readDocs(p Package) (*debpkg.Docs, error) {
	rc, err := p.Deb()
	if err != nil {
		return nil, fmt.Errorf("sbom: %s: %w", p.Name, err)
	}
	defer rc.Close()
	d, err := debpkg.ReadDocs(rc)
	if err != nil {
		return nil, fmt.Errorf("sbom: reading %s_%s: %w", p.Name, p.Version, err)
	}
	if got := d.Control["Package"]; got != p.Name || d.Control["Version"] != p.Version {
		return nil, fmt.Errorf("sbom: the .deb locked as %s %s is %s %s", p.Name, p.Version, got, d.Control["Version"])
	}
	return d, nil
}

// describe reads the source package, licenses and CVE ids of one package,
// following a doc directory that links to another locked package.
func describe(p Package, d *debpkg.Docs, byName map[string]*debpkg.Docs) (*debInfo, error) {
	info := &debInfo{source: p.Name}
	if src := d.Control["Source"]; src != "" {
		name, ver, _ := strings.Cut(src, " ")
		info.source = name
		info.srcVer = strings.Trim(ver, "()")
	}
	log, copyright := d.Changelog, d.Copyright
	var ne *debpkg.NoChangelogError
	if errors.As(d.ChangelogErr, &ne) {
		if other, ok := byName[ne.LinkedPackage()]; ok && other.Changelog != nil {
			log, info.cveFrom = other.Changelog, ne.LinkedPackage()
			if copyright == nil {
				copyright = other.Copyright
			}
		} else {
			info.noLog = d.ChangelogErr
		}
	}
	info.licenses, _ = debcopyright.Licenses(copyright)
	if log == nil {
		return info, nil
	}
	entries, err := debchangelog.Parse(bytes.NewReader(log))
	if err != nil && len(entries) == 0 {
		return nil, fmt.Errorf("sbom: changelog of %s %s: %w", p.Name, p.Version, err)
	}
	// Every entry: the changelog a package ships ends at the version it
	// was built from, whose number can differ from the binary's (the
	// signed kernel image 6.12.117-1 carries linux-signed-amd64
	// 6.12.117+1's changelog). A parse error past the first entries only
	// shortens the history.
	info.cves = debchangelog.CVEs(entries)
	return info, nil
}

// vulnerabilities turns CVE id -> affected components into CycloneDX
// vulnerabilities, sorted by id.
func vulnerabilities(affects map[string][]cdx.Affects) []cdx.Vulnerability {
	var out []cdx.Vulnerability
	for id, a := range affects {
		slices.SortFunc(a, func(x, y cdx.Affects) int { return strings.Compare(x.Ref, y.Ref) })
		out = append(out, cdx.Vulnerability{
			BOMRef: "vuln:" + id, ID: id,
			Source: &cdx.Source{Name: "NVD", URL: "https://nvd.nist.gov/vuln/detail/" + id},
			Analysis: &cdx.VulnerabilityAnalysis{State: cdx.IASResolved,
				Detail: "named in the Debian changelog of the affected packages at or before their packaged version"},
			Affects: &a,
		})
	}
	slices.SortFunc(out, func(x, y cdx.Vulnerability) int { return strings.Compare(x.ID, y.ID) })
	return out
}
