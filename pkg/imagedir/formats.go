package imagedir

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/internal/ctxio"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/qcow2"
	"github.com/hardenvm/hardenvm/pkg/vhdx"
)

// The disk formats an image directory may hold. Raw is always there:
// verify, measure, inspect and the config swap read it, and the others
// are written from it (the same bytes again from the same disk).
const (
	FormatRaw   = "raw"
	FormatQCOW2 = "qcow2"
	FormatVHDX  = "vhdx"
)

// Formats are the disk formats, by the name QEMU gives them.
var Formats = []string{FormatRaw, FormatQCOW2, FormatVHDX}

// diskFiles are the disk's files, by format.
var diskFiles = map[string]string{FormatRaw: Disk, FormatQCOW2: DiskQCOW2, FormatVHDX: DiskVHDX}

// DiskFile is the name of the disk's file in format.
func DiskFile(format string) (string, error) {
	if n, ok := diskFiles[format]; ok {
		return n, nil
	}
	return "", fmt.Errorf("disk format %q is not one of %v", format, Formats)
}

// DiskFormats are the formats other than raw whose disk file the
// manifest m lists, in the order of Formats.
func DiskFormats(m *manifest.Manifest) []string {
	var fs []string
	for _, f := range Formats[1:] {
		if _, ok := m.Artifacts[diskFiles[f]]; ok {
			fs = append(fs, f)
		}
	}
	return fs
}

// DiskFiles are the names of the disk's files the manifest m lists:
// disk.raw, then those of DiskFormats.
func DiskFiles(m *manifest.Manifest) []string {
	names := []string{Disk}
	for _, f := range DiskFormats(m) {
		names = append(names, diskFiles[f])
	}
	return names
}

// CheckFormats checks a list of disk formats (build --format) and
// returns those other than raw, each once, in the order of Formats.
func CheckFormats(formats []string) ([]string, error) {
	var out []string
	for _, f := range formats {
		if _, err := DiskFile(f); err != nil {
			return nil, err
		}
	}
	for _, f := range Formats[1:] {
		if slices.Contains(formats, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// WriteDiskFormat writes the disk of the image directory dir in format
// (qcow2 or vhdx) from its raw disk, atomically, and returns the file's
// manifest entry.
func WriteDiskFormat(ctx context.Context, dir, format string) (manifest.File, error) {
	name, err := DiskFile(format)
	if err != nil || format == FormatRaw {
		return manifest.File{}, fmt.Errorf("writing the %s disk: not a converted format", format)
	}
	src, err := os.Open(filepath.Join(dir, Disk))
	if err != nil {
		return manifest.File{}, fmt.Errorf("writing %s: %w", name, err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return manifest.File{}, fmt.Errorf("writing %s: %w", name, err)
	}
	path := filepath.Join(dir, name)
	out, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return manifest.File{}, fmt.Errorf("writing %s: %w", name, err)
	}
	defer out.Abort()
	r := ctxio.Reader(ctx, src)
	switch format {
	case FormatQCOW2:
		_, err = qcow2.Write(out.File, r, st.Size())
	case FormatVHDX:
		_, err = vhdx.Write(out.File, r, st.Size(), vhdx.Options{})
	}
	if err != nil {
		return manifest.File{}, fmt.Errorf("writing %s: %w", name, err)
	}
	if err := out.Commit(); err != nil {
		return manifest.File{}, fmt.Errorf("writing %s: %w", name, err)
	}
	return manifest.HashFile(path)
}
