package sbom

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"path"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// binaryComponent describes one of our files in the image. A Go binary
// (one with build info) lists its main module's path and Go version and
// has its module dependencies as nested components; other files are
// listed by digest alone.
func binaryComponent(b Binary) (cdx.Component, error) {
	sum := sha256.Sum256(b.Data)
	c := cdx.Component{BOMRef: "file:" + b.Path, Type: cdx.ComponentTypeFile, Name: path.Base(b.Path),
		Hashes:     &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: hex.EncodeToString(sum[:])}},
		Properties: &[]cdx.Property{{Name: "hardenvm:path", Value: b.Path}}}
	bi, err := buildinfo.Read(bytes.NewReader(b.Data))
	if err != nil {
		return c, nil // not a Go binary: a file by digest
	}
	c.Type = cdx.ComponentTypeApplication
	c.Version = bi.Main.Version
	*c.Properties = append(*c.Properties, cdx.Property{Name: "golang:go-version", Value: bi.GoVersion},
		cdx.Property{Name: "golang:main-module", Value: bi.Main.Path}, cdx.Property{Name: "golang:package", Value: bi.Path})
	var mods []cdx.Component
	for _, d := range bi.Deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		ref := goPurl(m.Path, m.Version)
		mc := cdx.Component{BOMRef: c.BOMRef + "#" + ref, Type: cdx.ComponentTypeLibrary, Name: m.Path, Version: m.Version, PackageURL: ref}
		var props []cdx.Property
		if m.Sum != "" {
			props = append(props, cdx.Property{Name: "golang:sum", Value: m.Sum})
		}
		if d.Replace != nil {
			props = append(props, cdx.Property{Name: "golang:replaces", Value: d.Path + "@" + d.Version})
		}
		if len(props) > 0 {
			mc.Properties = &props
		}
		mods = append(mods, mc)
	}
	if len(mods) > 0 {
		c.Components = &mods
	}
	return c, nil
}
