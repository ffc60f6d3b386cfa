// Package sbom writes the software bill of materials of a built image:
// CycloneDX 1.6 JSON, through github.com/CycloneDX/cyclonedx-go.
//
// CycloneDX rather than SPDX because what the image needs to say maps onto
// it directly: package URLs as component identities, the .deb's SHA-256 as
// a component hash, Debian's license short names, and the CVEs a package's
// changelog says it fixes as vulnerabilities whose analysis state is
// "resolved" for that component.
//
// What it lists: every Debian package of the lock (root file system,
// kernel, stub) with version, architecture, source package, purl
// (pkg:deb/debian/NAME@VERSION?arch=ARCH&distro=DISTRO), the .deb's
// SHA-256, its licenses when its copyright file is machine-readable
// (pkg/debcopyright) and the CVE ids its changelog names (pkg/debchangelog:
// every entry of the changelog the package ships); the kernel (release and vmlinuz
// digest); the project's own guest binaries with the Go modules their build
// info names. A package whose doc directory links to another package's
// takes that package's changelog and copyright.
//
// The bytes are a function of the inputs: the timestamp is the build's
// epoch, lists are sorted, and the serial number is a UUID derived from the
// document's own content.
package sbom

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// Input is what the SBOM describes.
type Input struct {
	Name  string    // the image (spec) name
	Epoch time.Time // SOURCE_DATE_EPOCH: the document's timestamp
	// Tool and ToolVersion name the program that wrote it.
	Tool, ToolVersion string
	// Distro is the purl distro qualifier of the Debian packages (the
	// lock's release, e.g. "trixie").
	Distro   string
	Packages []Package
	Kernel   *Kernel
	Binaries []Binary
}

// Package is one locked Debian package.
type Package struct {
	Name, Version, Arch string
	SHA256              string // of the .deb
	Suite               string // the suite the lock took it from; may be empty
	Role                string // rootfs, kernel or stub
	// Deb opens the .deb, which is read for its control file, changelog
	// and copyright.
	Deb func() (io.ReadCloser, error)
}

// Kernel is the kernel the UKI boots.
type Kernel struct {
	Release string // uname -r
	SHA256  string // of vmlinuz
	Package string // the Debian package it came from
}

// Binary is a file of ours in the image (the guest init, the agent, the
// runtime shim, ...). Go binaries get their modules listed.
type Binary struct {
	Path string // in the image, e.g. /usr/lib/hardenvm/init
	Data []byte
}

// Build makes the SBOM of in.
func Build(in Input) (*cdx.BOM, error) {
	bom := cdx.NewBOM()
	bom.SpecVersion = cdx.SpecVersion1_6
	image := &cdx.Component{BOMRef: "image:" + in.Name, Type: cdx.ComponentTypeOS, Name: in.Name}
	bom.Metadata = &cdx.Metadata{
		Timestamp: in.Epoch.UTC().Format(time.RFC3339),
		Tools:     &cdx.ToolsChoice{Components: &[]cdx.Component{{Type: cdx.ComponentTypeApplication, Name: in.Tool, Version: in.ToolVersion}}},
		Component: image,
	}
	debs, vulns, err := debComponents(in.Packages, in.Distro)
	if err != nil {
		return nil, err
	}
	comps := debs
	if k := in.Kernel; k != nil {
		comps = append(comps, cdx.Component{BOMRef: "kernel:linux@" + k.Release, Type: cdx.ComponentTypeOS, Name: "linux", Version: k.Release,
			Hashes:     &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: k.SHA256}},
			Properties: &[]cdx.Property{{Name: "hardenvm:debian-package", Value: k.Package}}})
	}
	var deps []cdx.Dependency
	for _, b := range in.Binaries {
		c, err := binaryComponent(b)
		if err != nil {
			return nil, err
		}
		comps = append(comps, c)
		if c.Components != nil {
			var refs []string
			for _, m := range *c.Components {
				refs = append(refs, m.BOMRef)
			}
			deps = append(deps, cdx.Dependency{Ref: c.BOMRef, Dependencies: &refs})
		}
	}
	slices.SortFunc(comps, func(a, b cdx.Component) int { return strings.Compare(a.BOMRef, b.BOMRef) })
	for i := 1; i < len(comps); i++ {
		if comps[i].BOMRef == comps[i-1].BOMRef {
			return nil, fmt.Errorf("sbom: %s is listed twice", comps[i].BOMRef)
		}
	}
	var top []string
	for _, c := range comps {
		top = append(top, c.BOMRef)
	}
	deps = append([]cdx.Dependency{{Ref: image.BOMRef, Dependencies: &top}}, deps...)
	slices.SortFunc(deps, func(a, b cdx.Dependency) int { return strings.Compare(a.Ref, b.Ref) })
	bom.Components = &comps
	bom.Dependencies = &deps
	if len(vulns) > 0 {
		bom.Vulnerabilities = &vulns
	}
	return bom, nil
}

// Marshal encodes bom as indented JSON with a serial number derived from
// the rest of the document, so equal inputs give equal bytes.
func Marshal(bom *cdx.BOM) ([]byte, error) {
	c := *bom
	c.SerialNumber = ""
	body, err := encode(&c)
	if err != nil {
		return nil, err
	}
	c.SerialNumber = contentUUID(body)
	return encode(&c)
}

func encode(bom *cdx.BOM) ([]byte, error) {
	var b bytes.Buffer
	if err := cdx.NewBOMEncoder(&b, cdx.BOMFileFormatJSON).SetPretty(true).SetEscapeHTML(false).Encode(bom); err != nil {
		return nil, fmt.Errorf("sbom: encoding: %w", err)
	}
	return b.Bytes(), nil
}

// contentUUID is a urn:uuid whose 122 free bits come from SHA-256 of b, with
// the version (5, name-based) and variant bits the CycloneDX schema wants.
func contentUUID(b []byte) string {
	s := sha256.Sum256(b)
	s[6] = s[6]&0x0f | 0x50
	s[8] = s[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

// Parse reads an SBOM back with the CycloneDX library: `hardenvm verify`
// and the tests use it.
func Parse(b []byte) (*cdx.BOM, error) {
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(b), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return nil, fmt.Errorf("sbom: parsing: %w", err)
	}
	if bom.BOMFormat != cdx.BOMFormat || bom.SpecVersion < cdx.SpecVersion1_6 {
		return nil, fmt.Errorf("sbom: not a CycloneDX 1.6 document (bomFormat %q, specVersion %s)", bom.BOMFormat, bom.SpecVersion)
	}
	return &bom, nil
}
