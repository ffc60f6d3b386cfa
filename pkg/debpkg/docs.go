package debpkg

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
)

// ErrNoChangelog is the condition Changelog and ReadDocs report (through a
// *NoChangelogError) when a package carries no Debian changelog of its own.
var ErrNoChangelog = errors.New("no Debian changelog")

// NoChangelogError says why a package has no changelog. Debian policy
// (12.7) lets a package make /usr/share/doc/<pkg> a symlink to the doc
// directory of another package built from the same source: Link is then
// that symlink's target, and the changelog is the other package's.
type NoChangelogError struct {
	Package string
	// Link is the target of the symlink that stands where the changelog
	// would be (the doc directory or the changelog file); empty when there
	// is simply none.
	Link string
}

func (e *NoChangelogError) Error() string {
	if e.Link != "" {
		return fmt.Sprintf("%s: no changelog of its own: its doc directory links to %s (package %s)", e.Package, e.Link, e.LinkedPackage())
	}
	return fmt.Sprintf("%s: no /%s", e.Package, docDir(e.Package)+"/changelog.Debian.gz")
}

// Is makes errors.Is(err, ErrNoChangelog) true.
func (e *NoChangelogError) Is(target error) bool { return target == ErrNoChangelog }

// LinkedPackage is the package whose doc directory Link points into (the
// usual "../otherpkg" or "otherpkg", or a file inside it), or "".
func (e *NoChangelogError) LinkedPackage() string {
	if e.Link == "" {
		return ""
	}
	l := path.Clean(e.Link)
	if strings.HasPrefix(path.Base(l), "changelog") {
		l = path.Dir(l)
	}
	return path.Base(l)
}

// Docs is what a package says about itself beyond its control file, read
// from usr/share/doc/<pkg>/.
type Docs struct {
	// Control holds the fields of DEBIAN/control, as in Info.
	Control map[string]string
	// Changelog is the decompressed Debian changelog: a binNMU's
	// changelog.Debian.<arch>.gz first (it holds only the rebuild's entry),
	// then changelog.Debian.gz; without that, changelog.gz when it is in
	// the Debian format (native packages, and the signed kernel images,
	// which ship no upstream changelog). Nil when the package has none; see
	// ChangelogErr.
	Changelog []byte
	// ChangelogErr is a *NoChangelogError when Changelog is nil.
	ChangelogErr error
	// Copyright is usr/share/doc/<pkg>/copyright, nil when absent.
	Copyright []byte
}

// Bounds on what is read into memory: the kernel's changelog, the largest
// in Debian, is about 1 MiB compressed and a few MiB decompressed.
const (
	maxDocFile   = 8 << 20 // a file as stored in the package
	maxChangelog = 64 << 20
)

func docDir(pkg string) string { return "usr/share/doc/" + pkg }

// Changelog returns the decompressed Debian changelog text of the .deb read
// from r: changelog.Debian.<arch>.gz (a binNMU's) followed by
// changelog.Debian.gz (or a Debian-format changelog.gz, see
// Docs.Changelog). pkg and arch default to the control file's Package
// and Architecture when empty. A package without one gives a
// *NoChangelogError (errors.Is(err, ErrNoChangelog)).
func Changelog(r io.Reader, pkg, arch string) ([]byte, error) {
	d, err := readDocs(r, pkg, arch)
	if err != nil {
		return nil, err
	}
	return d.Changelog, d.ChangelogErr
}

// ReadDocs reads the control file, changelog and copyright file of the .deb
// read from r in one pass, keeping nothing else in memory. A missing
// changelog is not an error here (Docs.ChangelogErr says why).
func ReadDocs(r io.Reader) (*Docs, error) {
	return readDocs(r, "", "")
}

func readDocs(r io.Reader, pkg, arch string) (*Docs, error) {
	d := &Docs{}
	var info Info
	var binNMU, main, native []byte
	var link string
	err := walk(r, func(tr io.Reader, comp string) error {
		if err := readControl(tr, comp, &info); err != nil {
			return err
		}
		d.Control = info.Control
		if pkg == "" {
			pkg = d.Control["Package"]
		}
		if arch == "" {
			arch = d.Control["Architecture"]
		}
		return nil
	}, func(_ string, r io.Reader, comp string) error {
		dir := docDir(pkg)
		return eachEntry(r, comp, func(h *tar.Header, tr io.Reader) error {
			name := strings.TrimSuffix(strings.TrimPrefix(path.Clean("/"+h.Name), "/"), "/")
			if name == dir && h.Typeflag == tar.TypeSymlink {
				link = h.Linkname
			}
			file, ok := strings.CutPrefix(name, dir+"/")
			if !ok {
				return nil
			}
			var dst *[]byte
			switch file {
			case "changelog.Debian." + arch + ".gz":
				dst = &binNMU
			case "changelog.Debian.gz":
				dst = &main
			case "changelog.gz":
				dst = &native
			case "copyright":
				dst = &d.Copyright
			default:
				return nil
			}
			if h.Typeflag == tar.TypeSymlink && dst != &d.Copyright {
				if link == "" {
					link = h.Linkname
				}
				return nil
			}
			if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeRegA {
				return nil
			}
			b, err := readBounded(tr, h.Name, maxDocFile)
			if err == nil && dst != &d.Copyright {
				b, err = gunzip(b, h.Name)
			}
			*dst = b
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	if main == nil && looksDebian(native) {
		main = native
	}
	if binNMU == nil && main == nil {
		d.ChangelogErr = &NoChangelogError{Package: pkg, Link: link}
		return d, nil
	}
	d.Changelog = binNMU
	if binNMU != nil && main != nil && !bytes.HasSuffix(binNMU, []byte("\n")) {
		d.Changelog = append(d.Changelog, '\n')
	}
	d.Changelog = append(d.Changelog, main...)
	return d, nil
}

// debianHeader is the start of a Debian changelog entry's first line,
// "source (version) ...".
var debianHeader = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]* \([^() \t]+\) `)

// looksDebian tells a changelog.gz in the Debian changelog format (a
// native package's, or one like linux-signed-amd64's that ships no
// upstream changelog) from an upstream changelog.
func looksDebian(b []byte) bool {
	for line := range strings.Lines(string(b)) {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		return debianHeader.MatchString(line)
	}
	return false
}

func readBounded(r io.Reader, name string, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, limit)
	}
	return b, nil
}

func gunzip(b []byte, name string) ([]byte, error) {
	z, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return readBounded(z, name, maxChangelog)
}
