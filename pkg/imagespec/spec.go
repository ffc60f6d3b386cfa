// Package imagespec reads image specs (images/*.yml): which Debian packages an
// image is made of, the kernel and boot stub, and what maintainer scripts
// would otherwise have done (users, groups, files, directories, symlinks,
// file capabilities), plus the services the guest init starts.
//
// Parsing is strict: an unknown or repeated key, a value of the wrong kind,
// or a reference to something undeclared is an *Error naming the file, the
// line and the field. YAML anchors, aliases and merge keys are refused, and
// so is more than one document per file. A `settings` section is kept as raw
// YAML for later stages, which decode it with Setting (just as strictly).
package imagespec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Spec is one image spec. Defaults are filled in by Parse.
type Spec struct {
	Name         string      `yaml:"name"`
	Debian       Debian      `yaml:"debian"`
	Packages     []string    `yaml:"packages"`
	Kernel       Kernel      `yaml:"kernel"`
	Stub         string      `yaml:"stub"` // package that ships the systemd-boot EFI stub
	Users        []User      `yaml:"users"`
	Groups       []Group     `yaml:"groups"`
	Files        []File      `yaml:"files"`
	Directories  []Directory `yaml:"directories"`
	Symlinks     []Symlink   `yaml:"symlinks"`
	Capabilities []FileCaps  `yaml:"capabilities"`
	Services     []Service   `yaml:"services"`
	// Data are directories of the image that the guest init replaces with
	// writable, persistent directories of the VM's data disk
	// (/var/lib/docker); each must exist in the image.
	Data     []string  `yaml:"data"`
	Verity   Verity    `yaml:"verity"`
	Rootfs   Rootfs    `yaml:"rootfs"`
	Console  string    `yaml:"console"` // ConsoleShell or ConsoleNone
	Settings yaml.Node `yaml:"settings"`

	// Path is the file the spec was read from; Dir is its directory, the
	// base of File.Source and Debian.Keyring.
	Path string `yaml:"-"`
	Dir  string `yaml:"-"`

	lines map[string]int // field path -> line
}

// Debian says where the packages come from. The mirror itself is never in a
// spec: it is the host's (see package deb).
type Debian struct {
	// Suites are resolved together, the highest version of a package
	// across them winning (apt's default); a suite named *-security comes
	// from the security archive, the others from the main archive (see
	// package deb). Default DefaultSuites: a hardened image takes security
	// updates unless its spec says otherwise.
	Suites     []string `yaml:"suites"`
	Components []string `yaml:"components"` // default ["main"]
	Arch       string   `yaml:"arch"`       // default "amd64"
	// Keyring is an OpenPGP keyring beside the spec that replaces the host's
	// Debian archive keyring; Parse makes it absolute.
	Keyring string `yaml:"keyring"`
	Line    int
}

// Kernel names the kernel package and the modules the initramfs loads (by
// module name; their dependencies are found from modules.dep).
type Kernel struct {
	Package string   `yaml:"package"`
	Modules []string `yaml:"modules"`
	Line    int
}

// User is a passwd entry. Group is the primary group's name.
type User struct {
	Name   string   `yaml:"name"`
	UID    int      `yaml:"uid"`
	Group  string   `yaml:"group"`  // default: the group named like the user
	Groups []string `yaml:"groups"` // supplementary groups
	Home   string   `yaml:"home"`   // default "/nonexistent"
	Shell  string   `yaml:"shell"`  // default "/usr/sbin/nologin"
	Line   int
}

// Group is a group entry.
type Group struct {
	Name string `yaml:"name"`
	GID  int    `yaml:"gid"`
	Line int
}

// File is a regular file put into the image: Contents inline, or Source, a
// path relative to the spec's directory (made absolute by Parse).
type File struct {
	Path     string `yaml:"path"`
	Contents string `yaml:"contents"`
	Source   string `yaml:"source"`
	Mode     Mode   `yaml:"mode"`  // default 0644
	Owner    string `yaml:"owner"` // user name or number, default root
	Group    string `yaml:"group"` // group name or number, default root
	Line     int
}

// Directory is a directory created in the image.
type Directory struct {
	Path  string `yaml:"path"`
	Mode  Mode   `yaml:"mode"` // default 0755
	Owner string `yaml:"owner"`
	Group string `yaml:"group"`
	Line  int
}

// Symlink is a symbolic link Path -> Target.
type Symlink struct {
	Path   string `yaml:"path"`
	Target string `yaml:"target"`
	Line   int
}

// FileCaps gives the file at Path capabilities (security.capability).
type FileCaps struct {
	Path string `yaml:"path"`
	Caps CapSet `yaml:"caps"` // libcap text form, e.g. "cap_net_bind_service=ep"
	Line int
}

// Service is a process the guest init starts and supervises.
type Service struct {
	Name    string            `yaml:"name"`
	Command string            `yaml:"command"` // absolute path in the image
	Args    []string          `yaml:"args"`
	Env     map[string]string `yaml:"env"`
	User    string            `yaml:"user"`    // default root
	Restart string            `yaml:"restart"` // RestartAlways, RestartOnFailure (default) or RestartNever
	Depends []string          `yaml:"depends"` // services started first
	Ready   *Readiness        `yaml:"ready"`   // how the init tells it is ready
	Line    int
}

// Readiness is a service's readiness check: its unix socket accepts a
// connection and, with httpGet, answers a GET of that path with 200. The
// guest init says READY only when every service with a check passes it.
type Readiness struct {
	Socket  string `yaml:"socket"`
	HTTPGet string `yaml:"httpGet"`
	Timeout string `yaml:"timeout"` // a Go duration, default DefaultReadyTimeout
	Line    int
}

// DefaultReadyTimeout bounds a readiness check from boot: the engine of
// the desktop image needs about 20 s under software emulation.
const DefaultReadyTimeout = 3 * time.Minute

// ReadyTimeout is the check's timeout (validated by Parse).
func (r *Readiness) ReadyTimeout() time.Duration {
	d, err := time.ParseDuration(r.Timeout)
	if err != nil || r.Timeout == "" {
		return DefaultReadyTimeout
	}
	return d
}

// Verity holds the dm-verity policy of the root filesystem.
type Verity struct {
	// Corruption is the kernel's verity option for a block that fails its
	// hash: VerityRestart (default) or VerityPanic.
	Corruption string `yaml:"corruption"`
	Line       int
}

// Rootfs says how the root filesystem image is written.
type Rootfs struct {
	// Compression of the root's regular files: RootfsLZ4HC (the default:
	// about half the size), RootfsLZ4 (faster to build, larger) or
	// RootfsNone (every file stored as is).
	Compression string `yaml:"compression"`
	// Exclude names what of the packages' files the root leaves out: the
	// parts a VM that only runs its services never reads (manual pages,
	// translations, documentation), as Debian's and Ubuntu's minimized
	// images do with dpkg's path-exclude. Each entry is an absolute
	// path.Match glob ("*" stays within one name); a match takes the
	// path and everything below it. Keep globs bring paths back (and the
	// directories above them), like dpkg's path-include: a package's
	// copyright file, say. Only the packages' contents are filtered: the
	// spec's own files, directories and symlinks are always added.
	Exclude []string `yaml:"exclude"`
	Keep    []string `yaml:"keep"`
	Line    int
}

// Compressions of Rootfs.Compression.
const (
	RootfsNone  = "none"
	RootfsLZ4   = "lz4"
	RootfsLZ4HC = "lz4hc"
)

// Allowed values and defaults.
const (
	DefaultRelease   = "trixie"
	DefaultArch      = "amd64"
	DefaultStub      = "systemd-boot-efi"
	ConsoleShell     = "shell"
	ConsoleNone      = "none"
	RestartAlways    = "always"
	RestartOnFailure = "on-failure"
	RestartNever     = "never"
	VerityRestart    = "restart_on_corruption"
	VerityPanic      = "panic_on_corruption"
)

// Mode is a permission mode written in octal ("0755", 0o755 or 755);
// setuid, setgid and sticky bits are allowed.
type Mode uint32

func (m *Mode) unmarshalNode(n *yaml.Node) error {
	s := n.Value
	if len(s) > 2 && (s[:2] == "0o" || s[:2] == "0O") {
		s = s[2:]
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return fmt.Errorf("want an octal mode like \"0755\", got %q", n.Value)
	}
	if v == 0 {
		// An absent mode means the default; a written 0 must not quietly
		// become it.
		return fmt.Errorf("%q gives nobody any access; write the mode you mean (\"0600\", \"0755\"), or leave mode out for the default", n.Value)
	}
	*m = Mode(v)
	return nil
}

// Load reads and parses the spec at path.
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	return Parse(path, data)
}

// Parse parses a spec's bytes; path names it in errors and locates files
// and the keyring it refers to (it is not read). The result is validated
// and has its defaults filled in.
func Parse(path string, data []byte) (*Spec, error) {
	root, err := parseYAML(path, data)
	if err != nil {
		return nil, err
	}
	s := &Spec{Path: path, Dir: filepath.Dir(path)}
	s.lines = map[string]int{}
	d := &decoder{file: path, lines: s.lines}
	if err := d.decode(root, reflect.ValueOf(s).Elem(), ""); err != nil {
		return nil, err
	}
	s.setDefaults()
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// parseYAML returns the single document's top-level node.
func parseYAML(path string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: path, Msg: "the file is empty"}
		}
		return nil, yamlError(path, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, yamlError(path, err)
		}
		return nil, &Error{File: path, Line: extra.Line, Msg: "a second YAML document (---): one spec per file"}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, &Error{File: path, Msg: "the file is empty"}
	}
	return doc.Content[0], nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a syntax error ("yaml: line 3: ...") into an *Error.
func yamlError(path string, err error) error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[1])
		if strings.HasPrefix(m[2], "did not find expected") {
			line++ // yaml.v3 reports a parser error's context line 0-based
		}
		return &Error{File: path, Line: line, Msg: "YAML syntax: " + m[2]}
	}
	return &Error{File: path, Msg: "YAML syntax: " + err.Error()}
}

func (s *Spec) setDefaults() {
	if len(s.Debian.Suites) == 0 {
		s.Debian.Suites = DefaultSuites()
	}
	if len(s.Debian.Components) == 0 {
		s.Debian.Components = []string{"main"}
	}
	if s.Debian.Arch == "" {
		s.Debian.Arch = DefaultArch
	}
	if s.Debian.Keyring != "" && !filepath.IsAbs(s.Debian.Keyring) {
		s.Debian.Keyring = filepath.Join(s.Dir, s.Debian.Keyring)
	}
	if s.Stub == "" {
		s.Stub = DefaultStub
	}
	if s.Console == "" {
		s.Console = ConsoleShell
	}
	if s.Verity.Corruption == "" {
		s.Verity.Corruption = VerityRestart
	}
	if s.Rootfs.Compression == "" {
		s.Rootfs.Compression = RootfsLZ4HC
	}
	for i := range s.Users {
		u := &s.Users[i]
		if u.Group == "" {
			u.Group = u.Name
		}
		if u.Home == "" {
			u.Home = "/nonexistent"
		}
		if u.Shell == "" {
			u.Shell = "/usr/sbin/nologin"
		}
	}
	for i := range s.Files {
		f := &s.Files[i]
		if f.Mode == 0 {
			f.Mode = 0o644
		}
		if f.Source != "" && !filepath.IsAbs(f.Source) {
			f.Source = filepath.Join(s.Dir, f.Source)
		}
	}
	for i := range s.Directories {
		if s.Directories[i].Mode == 0 {
			s.Directories[i].Mode = 0o755
		}
	}
	for i := range s.Services {
		if s.Services[i].Restart == "" {
			s.Services[i].Restart = RestartOnFailure
		}
	}
}

// DefaultSuites are the suites of a spec that names none: the release, its
// stable updates and its security updates.
func DefaultSuites() []string {
	return []string{DefaultRelease, DefaultRelease + "-updates", DefaultRelease + "-security"}
}

// Setting decodes settings.<key> into out (a pointer to a struct, slice,
// map or scalar) with the same strictness as the spec itself. It reports
// whether the key is present.
func (s *Spec) Setting(key string, out any) (bool, error) {
	n := &s.Settings
	if n.Kind == 0 || isNull(n) {
		return false, nil
	}
	if n.Kind != yaml.MappingNode {
		return false, &Error{File: s.Path, Line: n.Line, Field: "settings", Msg: "want a mapping, got " + kindName(n)}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			v := reflect.ValueOf(out)
			if v.Kind() != reflect.Pointer || v.IsNil() {
				return false, fmt.Errorf("spec: BUG: Setting(%q) needs a non-nil pointer, got %T", key, out)
			}
			d := &decoder{file: s.Path}
			return true, d.decode(n.Content[i+1], v.Elem(), "settings."+key)
		}
	}
	return false, nil
}

// CheckSettings refuses keys of the settings section that are not among
// known (the ones its consumer reads), so that a misspelt key is an error
// naming its line rather than a setting silently left at its default.
func (s *Spec) CheckSettings(known ...string) error {
	n := &s.Settings
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !slices.Contains(known, k.Value) {
			return &Error{File: s.Path, Line: k.Line, Field: "settings." + k.Value, Msg: fmt.Sprintf("unknown setting (want one of: %s)", strings.Join(known, ", "))}
		}
	}
	return nil
}

// SettingKeys lists the keys of the settings section, in file order.
func (s *Spec) SettingKeys() []string {
	var keys []string
	n := &s.Settings
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		keys = append(keys, n.Content[i].Value)
	}
	return keys
}

// RootPackages is what the lock resolves into the root filesystem: the
// packages list. The kernel and stub packages are boot inputs (taken apart
// into the UKI and initramfs, not installed), locked without their
// dependencies.
func (s *Spec) RootPackages() []string { return s.Packages }
