package imagespec

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hardenvm/hardenvm/pkg/arch"
)

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	pkgRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	wordRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]*$`)
	moduleRE  = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	accountRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]*$`)
	envRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// maxID is the largest uid/gid we accept (below the 32-bit "-1").
const maxID = 1<<32 - 2

// validator collects the first error; each check names file, line, field.
type validator struct {
	s   *Spec
	err error
}

func (v *validator) fail(line int, field, format string, args ...any) {
	if v.err == nil {
		v.err = &Error{File: v.s.Path, Line: v.s.lineOf(field, line), Field: field, Msg: fmt.Sprintf(format, args...)}
	}
}

// lineOf returns the line of field, or of its nearest parent that was in
// the file, or fallback.
func (s *Spec) lineOf(field string, fallback int) int {
	for f := field; f != ""; {
		if l, ok := s.lines[f]; ok {
			return l
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return fallback
}

func (s *Spec) validate() error {
	v := &validator{s: s}
	if s.Name == "" {
		v.fail(0, "name", "missing: every spec needs a name (lower-case letters, digits, dashes)")
	} else if !nameRE.MatchString(s.Name) {
		v.fail(1, "name", "%q: use lower-case letters, digits and dashes", s.Name)
	}
	v.debian()
	v.packages()
	v.accounts()
	v.paths()
	v.services()
	v.data()
	if s.Console != ConsoleShell && s.Console != ConsoleNone {
		v.fail(1, "console", "%q: want %q or %q", s.Console, ConsoleShell, ConsoleNone)
	}
	if c := s.Verity.Corruption; c != VerityRestart && c != VerityPanic {
		v.fail(s.Verity.Line, "verity.corruption", "%q: want %q or %q", c, VerityRestart, VerityPanic)
	}
	switch c := s.Rootfs.Compression; c {
	case RootfsNone, RootfsLZ4, RootfsLZ4HC:
	default:
		v.fail(s.Rootfs.Line, "rootfs.compression", "%q: want %q, %q or %q", c, RootfsLZ4HC, RootfsLZ4, RootfsNone)
	}
	v.globs("rootfs.exclude", s.Rootfs.Exclude)
	v.globs("rootfs.keep", s.Rootfs.Keep)
	if n := &s.Settings; n.Kind != 0 && !isNull(n) {
		if n.Kind != yaml.MappingNode {
			v.fail(n.Line, "settings", "want a mapping, got %s", kindName(n))
		} else if a := findAnchor(n); a != nil {
			v.fail(a.Line, "settings", "YAML anchors and aliases are not supported; write the value out")
		}
	}
	return v.err
}

// globs checks path globs of rootfs.exclude and rootfs.keep: absolute,
// clean and valid for path.Match.
func (v *validator) globs(field string, globs []string) {
	for i, g := range globs {
		f := fmt.Sprintf("%s[%d]", field, i)
		if _, err := path.Match(g, ""); err != nil {
			v.fail(v.s.Rootfs.Line, f, "%q is not a valid glob (%v): use *, ? and [a-z] within one path name", g, err)
		} else if !strings.HasPrefix(g, "/") || g == "/" || path.Clean(g) != g {
			v.fail(v.s.Rootfs.Line, f, "%q: want an absolute, clean path glob below / like \"/usr/share/man\"", g)
		}
	}
}

func findAnchor(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode || n.Anchor != "" || n.Tag == "!!merge" {
		return n
	}
	for _, c := range n.Content {
		if a := findAnchor(c); a != nil {
			return a
		}
	}
	return nil
}

func (v *validator) debian() {
	d := v.s.Debian
	for i, su := range d.Suites {
		if !wordRE.MatchString(su) {
			v.fail(d.Line, fmt.Sprintf("debian.suites[%d]", i), "%q is not a suite name like %q", su, DefaultRelease)
		} else if slices.Index(d.Suites, su) != i {
			v.fail(d.Line, fmt.Sprintf("debian.suites[%d]", i), "%q is listed twice", su)
		}
	}
	for i, c := range d.Components {
		if !wordRE.MatchString(c) {
			v.fail(d.Line, fmt.Sprintf("debian.components[%d]", i), "%q is not a component name like \"main\"", c)
		}
	}
	if _, err := arch.Lookup(d.Arch); err != nil {
		v.fail(d.Line, "debian.arch", "%v", err)
	}
	if d.Keyring != "" {
		if fi, err := os.Stat(d.Keyring); err != nil || !fi.Mode().IsRegular() {
			v.fail(d.Line, "debian.keyring", "%s: not a readable file (paths are relative to the spec)", d.Keyring)
		}
	}
}

func (v *validator) packages() {
	s := v.s
	if len(s.Packages) == 0 {
		v.fail(0, "packages", "missing: list the Debian packages of the root filesystem")
	}
	seen := map[string]bool{}
	for i, p := range s.Packages {
		f := fmt.Sprintf("packages[%d]", i)
		if !pkgRE.MatchString(p) {
			v.fail(1, f, "%q is not a Debian package name (versions are pinned by the lock, not here)", p)
		}
		if seen[p] {
			v.fail(1, f, "%q is listed twice", p)
		}
		seen[p] = true
	}
	if s.Kernel.Package == "" {
		v.fail(s.Kernel.Line, "kernel.package", "missing: name the kernel package, e.g. linux-image-cloud-amd64")
	} else if !pkgRE.MatchString(s.Kernel.Package) {
		v.fail(s.Kernel.Line, "kernel.package", "%q is not a Debian package name", s.Kernel.Package)
	}
	for i, m := range s.Kernel.Modules {
		if !moduleRE.MatchString(m) {
			v.fail(s.Kernel.Line, fmt.Sprintf("kernel.modules[%d]", i), "%q is not a module name like \"dm_verity\"", m)
		}
	}
	if !pkgRE.MatchString(s.Stub) {
		v.fail(1, "stub", "%q is not a Debian package name", s.Stub)
	}
}

// accounts checks users and groups: unique names and ids, references to
// declared groups. root (uid 0, gid 0) is implicit and may not be declared.
func (v *validator) accounts() {
	s := v.s
	groupNames, gids := map[string]bool{"root": true}, map[int]bool{0: true}
	for i, g := range s.Groups {
		f := fmt.Sprintf("groups[%d]", i)
		switch {
		case !accountRE.MatchString(g.Name) || len(g.Name) > 32:
			v.fail(g.Line, f+".name", "%q: want lower-case letters, digits, '_' or '-' (at most 32)", g.Name)
		case groupNames[g.Name]:
			v.fail(g.Line, f+".name", "group %q is declared twice (root is implicit)", g.Name)
		case g.GID <= 0 || g.GID > maxID:
			v.fail(g.Line, f+".gid", "%d: want a gid from 1 to %d (0 is root, implicit)", g.GID, maxID)
		case gids[g.GID]:
			v.fail(g.Line, f+".gid", "gid %d is used twice", g.GID)
		}
		groupNames[g.Name], gids[g.GID] = true, true
	}
	userNames, uids := map[string]bool{"root": true}, map[int]bool{0: true}
	for i, u := range s.Users {
		f := fmt.Sprintf("users[%d]", i)
		switch {
		case !accountRE.MatchString(u.Name) || len(u.Name) > 32:
			v.fail(u.Line, f+".name", "%q: want lower-case letters, digits, '_' or '-' (at most 32)", u.Name)
		case userNames[u.Name]:
			v.fail(u.Line, f+".name", "user %q is declared twice (root is implicit)", u.Name)
		case u.UID <= 0 || u.UID > maxID:
			v.fail(u.Line, f+".uid", "%d: want a uid from 1 to %d (0 is root, implicit)", u.UID, maxID)
		case uids[u.UID]:
			v.fail(u.Line, f+".uid", "uid %d is used twice", u.UID)
		case !groupNames[u.Group]:
			v.fail(u.Line, f+".group", "group %q is not declared under groups", u.Group)
		case !path.IsAbs(u.Home) || !path.IsAbs(u.Shell):
			v.fail(u.Line, f, "home and shell must be absolute paths")
		case strings.ContainsAny(u.Home+u.Shell, ":\n"):
			v.fail(u.Line, f, "home and shell may not contain ':' or a newline")
		}
		for j, g := range u.Groups {
			if !groupNames[g] {
				v.fail(u.Line, fmt.Sprintf("%s.groups[%d]", f, j), "group %q is not declared under groups", g)
			}
		}
		userNames[u.Name], uids[u.UID] = true, true
	}
}

// owner checks an owner or group field: a declared name or a number.
func (v *validator) owner(line int, field, val string, names func(string) bool) {
	if val == "" || names(val) {
		return
	}
	if n, err := strconv.ParseUint(val, 10, 32); err == nil && n <= maxID {
		return
	}
	v.fail(line, field, "%q is neither a declared name nor a number", val)
}

// cleanAbs reports whether p is an absolute, clean path other than "/".
func cleanAbs(p string) bool {
	return path.IsAbs(p) && path.Clean(p) == p && p != "/" && !strings.ContainsRune(p, 0)
}

// paths checks files, directories, symlinks and capabilities: absolute
// clean paths, each declared once, sources beside the spec.
func (v *validator) paths() {
	s := v.s
	seen := map[string]string{}
	claim := func(line int, field, p string) {
		if !cleanAbs(p) {
			v.fail(line, field, "%q: want an absolute path without '.', '..' or a trailing '/'", p)
		} else if prev, ok := seen[p]; ok {
			v.fail(line, field, "%s is already declared at %s", p, prev)
		}
		seen[p] = field
	}
	user := func(n string) bool {
		return n == "root" || slices.ContainsFunc(s.Users, func(u User) bool { return u.Name == n })
	}
	group := func(n string) bool {
		return n == "root" || slices.ContainsFunc(s.Groups, func(g Group) bool { return g.Name == n })
	}
	for i, f := range s.Files {
		fld := fmt.Sprintf("files[%d]", i)
		claim(f.Line, fld+".path", f.Path)
		v.owner(f.Line, fld+".owner", f.Owner, user)
		v.owner(f.Line, fld+".group", f.Group, group)
		switch {
		case f.Contents != "" && f.Source != "":
			v.fail(f.Line, fld, "give contents or source, not both")
		case f.Source != "":
			rel, err := filepath.Rel(s.Dir, f.Source)
			if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				v.fail(f.Line, fld+".source", "%s is not beside the spec (inside %s)", f.Source, s.Dir)
			} else if fi, err := os.Stat(f.Source); err != nil || !fi.Mode().IsRegular() {
				v.fail(f.Line, fld+".source", "%s: not a readable regular file", f.Source)
			} else if !insideDir(s.Dir, f.Source) {
				v.fail(f.Line, fld+".source", "%s leads out of the spec's directory through a symlink", f.Source)
			}
		}
	}
	for i, d := range s.Directories {
		fld := fmt.Sprintf("directories[%d]", i)
		claim(d.Line, fld+".path", d.Path)
		v.owner(d.Line, fld+".owner", d.Owner, user)
		v.owner(d.Line, fld+".group", d.Group, group)
	}
	for i, l := range s.Symlinks {
		fld := fmt.Sprintf("symlinks[%d]", i)
		claim(l.Line, fld+".path", l.Path)
		if l.Target == "" || strings.ContainsRune(l.Target, 0) || len(l.Target) > 4095 {
			v.fail(l.Line, fld+".target", "missing or invalid link target")
		}
	}
	capSeen := map[string]bool{}
	for i, c := range s.Capabilities {
		fld := fmt.Sprintf("capabilities[%d]", i)
		if !cleanAbs(c.Path) {
			v.fail(c.Line, fld+".path", "%q: want an absolute clean path", c.Path)
		} else if capSeen[c.Path] {
			v.fail(c.Line, fld+".path", "%s has capabilities declared twice", c.Path)
		}
		capSeen[c.Path] = true
		if c.Caps.Permitted == 0 && c.Caps.Inheritable == 0 {
			v.fail(c.Line, fld+".caps", "missing: e.g. \"cap_net_bind_service=ep\"")
		}
	}
}

func (v *validator) data() {
	for i, d := range v.s.Data {
		f := fmt.Sprintf("data[%d]", i)
		switch {
		case !cleanAbs(d) || d == "/":
			v.fail(0, f, "%q: want a clean absolute directory below /", d)
		case slices.Index(v.s.Data, d) != i:
			v.fail(0, f, "%q is listed twice", d)
		}
	}
}

func (v *validator) services() {
	s := v.s
	byName := map[string]int{}
	for i, sv := range s.Services {
		f := fmt.Sprintf("services[%d]", i)
		_, dup := byName[sv.Name]
		switch {
		case !nameRE.MatchString(sv.Name):
			v.fail(sv.Line, f+".name", "%q: want lower-case letters, digits and dashes", sv.Name)
		case dup:
			v.fail(sv.Line, f+".name", "service %q is declared twice", sv.Name)
		case !cleanAbs(sv.Command):
			v.fail(sv.Line, f+".command", "%q: want the absolute path of a program in the image", sv.Command)
		case sv.User != "" && sv.User != "root" && !slices.ContainsFunc(s.Users, func(u User) bool { return u.Name == sv.User }):
			v.fail(sv.Line, f+".user", "user %q is not declared under users", sv.User)
		case sv.Restart != RestartAlways && sv.Restart != RestartOnFailure && sv.Restart != RestartNever:
			v.fail(sv.Line, f+".restart", "%q: want %s, %s or %s", sv.Restart, RestartAlways, RestartOnFailure, RestartNever)
		}
		if r := sv.Ready; r != nil {
			switch d, err := time.ParseDuration(r.Timeout); {
			case !cleanAbs(r.Socket):
				v.fail(r.Line, f+".ready.socket", "%q: want the absolute path of the service's unix socket", r.Socket)
			case r.HTTPGet != "" && !strings.HasPrefix(r.HTTPGet, "/"):
				v.fail(r.Line, f+".ready.httpGet", "%q: want an absolute HTTP path like \"/_ping\"", r.HTTPGet)
			case r.Timeout != "" && (err != nil || d < time.Second):
				v.fail(r.Line, f+".ready.timeout", "%q: want a duration of a second or more, like \"3m\"", r.Timeout)
			}
		}
		for k := range sv.Env {
			if !envRE.MatchString(k) {
				v.fail(sv.Line, f+".env."+k, "not a valid environment variable name")
			}
		}
		byName[sv.Name] = i
	}
	for i, sv := range s.Services {
		for j, d := range sv.Depends {
			if _, ok := byName[d]; !ok {
				v.fail(sv.Line, fmt.Sprintf("services[%d].depends[%d]", i, j), "service %q is not declared", d)
			}
		}
	}
	if v.err != nil {
		return
	}
	// Depth-first search for a dependency cycle; report it whole.
	state := make([]int, len(s.Services)) // 0 new, 1 on stack, 2 done
	var stack []string
	var visit func(i int) bool
	visit = func(i int) bool {
		state[i] = 1
		stack = append(stack, s.Services[i].Name)
		for _, d := range s.Services[i].Depends {
			j := byName[d]
			if state[j] == 1 {
				k := slices.Index(stack, d)
				cycle := append(slices.Clone(stack[k:]), d)
				v.fail(s.Services[j].Line, fmt.Sprintf("services[%d].depends", j), "dependency cycle: %s", strings.Join(cycle, " -> "))
				return true
			}
			if state[j] == 0 && visit(j) {
				return true
			}
		}
		stack = stack[:len(stack)-1]
		state[i] = 2
		return false
	}
	for i := range s.Services {
		if state[i] == 0 && visit(i) {
			return
		}
	}
}

// insideDir reports whether p, with symlinks resolved, is inside dir.
func insideDir(dir, p string) bool {
	d, err1 := filepath.EvalSymlinks(dir)
	q, err2 := filepath.EvalSymlinks(p)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(d, q)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
