package imagespec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMinimalSpec(t *testing.T) {
	s, err := Load("../../images/minimal.yml")
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "minimal" || s.Debian.Arch != "amd64" || s.Stub != "systemd-boot-efi" {
		t.Errorf("minimal: name/arch/stub = %q %q %q", s.Name, s.Debian.Arch, s.Stub)
	}
	if diff := cmp.Diff([]string{"trixie", "trixie-updates", "trixie-security"}, s.Debian.Suites); diff != "" {
		t.Errorf("minimal: suites diff (-want +got):\n%s", diff)
	}
	if s.Kernel.Package != "linux-image-cloud-amd64" {
		t.Errorf("kernel = %q", s.Kernel.Package)
	}
	if diff := cmp.Diff([]string{"busybox-static"}, s.Packages); diff != "" {
		t.Errorf("packages diff (-want +got):\n%s", diff)
	}
	if s.Verity.Corruption != VerityRestart || s.Console != ConsoleShell {
		t.Errorf("verity/console = %q %q", s.Verity.Corruption, s.Console)
	}
	if s.Rootfs.Compression != RootfsLZ4HC {
		t.Errorf("rootfs.compression = %q, want %q", s.Rootfs.Compression, RootfsLZ4HC)
	}
}

const base = `name: t
packages: [busybox-static]
kernel: {package: linux-image-cloud-amd64}
`

func TestParseDefaults(t *testing.T) {
	s, err := Parse("dir/t.yml", []byte(base+`
users: [{name: alice, uid: 1001}]
groups: [{name: alice, gid: 1001}]
files: [{path: /etc/x, source: x.txt}]
directories: [{path: /data}]
services: [{name: a, command: /bin/a}]
`))
	var e *Error
	// The source file does not exist: that is the only complaint.
	if !errors.As(err, &e) || e.Field != "files[0].source" || e.Line != 7 {
		t.Fatalf("Parse = %v, want a files[0].source error on line 7", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Parse(filepath.Join(dir, "t.yml"), []byte(base+`
users: [{name: alice, uid: 1001}]
groups: [{name: alice, gid: 1001}]
files: [{path: /etc/x, source: x.txt}]
directories: [{path: /data}]
services: [{name: a, command: /bin/a}]
`))
	if err != nil {
		t.Fatal(err)
	}
	// A source that is a symlink out of the spec's directory is refused.
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "out.txt")); err != nil {
		t.Fatal(err)
	}
	_, err = Parse(filepath.Join(dir, "t.yml"), []byte(base+"files: [{path: /etc/x, source: out.txt}]\n"))
	if err == nil || !strings.Contains(err.Error(), "out.txt leads out of the spec's directory through a symlink") {
		t.Errorf("symlinked source: %v", err)
	}
	got := []any{s.Debian.Suites, s.Debian.Components, s.Debian.Arch, s.Stub, s.Console, s.Verity.Corruption,
		s.Users[0].Group, s.Users[0].Home, s.Users[0].Shell, s.Files[0].Mode, s.Files[0].Source,
		s.Directories[0].Mode, s.Services[0].Restart}
	want := []any{[]string{"trixie", "trixie-updates", "trixie-security"}, []string{"main"}, "amd64", "systemd-boot-efi", "shell", "restart_on_corruption",
		"alice", "/nonexistent", "/usr/sbin/nologin", Mode(0o644), filepath.Join(dir, "x.txt"),
		Mode(0o755), "on-failure"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults diff (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       string // the whole error text
	}{
		{"unknown top-level", base + "colour: red\n", "s.yml:4: colour: unknown field (want one of: name, debian, packages, kernel, stub, users, groups, files, directories, symlinks, capabilities, services, data, verity, rootfs, console, settings)"},
		{"unknown nested", base + "debian:\n  suites: [trixie]\n  mirror: x\n", "s.yml:6: debian.mirror: unknown field (want one of: suites, components, arch, keyring)"},
		{"renamed", base + "debian:\n  suite: trixie\n", "s.yml:5: debian.suite: replaced by debian.suites, a list such as [trixie, trixie-updates, trixie-security] (security updates come from their own suite)"},
		{"suite twice", base + "debian:\n  suites: [trixie, trixie]\n", "s.yml:5: debian.suites[1]: \"trixie\" is listed twice"},
		{"unsupported arch", base + "debian:\n  arch: riscv64\n", "s.yml:5: debian.arch: architecture \"riscv64\" is not supported: want one of amd64, arm64"},
		{"bad suite", base + "debian:\n  suites: [Trixie]\n", "s.yml:5: debian.suites[0]: \"Trixie\" is not a suite name like \"trixie\""},
		{"twice", base + "stub: a\nstub: b\n", "s.yml:5: stub: field given twice"},
		{"syntax", base + "packages: [a\n", "s.yml:4: YAML syntax: did not find expected ',' or ']'"},
		{"empty", "", "s.yml: the file is empty"},
		{"two docs", base + "---\nname: u\n", "s.yml:4: a second YAML document (---): one spec per file"},
		{"alias", "name: &n t\npackages: [busybox-static]\nkernel: {package: k}\n", "s.yml:1: name: YAML anchors and aliases are not supported; write the value out"},
		{"merge", base + "debian:\n  <<: {suite: x}\n", "s.yml:5: debian: keys must be plain words, got \"<<\""},
		{"no name", "packages: [a]\nkernel: {package: k}\n", "s.yml: name: missing: every spec needs a name (lower-case letters, digits, dashes)"},
		{"bad name", "name: Big\npackages: [a1]\nkernel: {package: k}\n", "s.yml:1: name: \"Big\": use lower-case letters, digits and dashes"},
		{"no packages", "name: t\nkernel: {package: k}\n", "s.yml: packages: missing: list the Debian packages of the root filesystem"},
		{"package twice", "name: t\nkernel: {package: k1}\npackages:\n  - aa\n  - aa\n", "s.yml:5: packages[1]: \"aa\" is listed twice"},
		{"package version", "name: t\nkernel: {package: k1}\npackages:\n  - aa=1.0\n", "s.yml:4: packages[0]: \"aa=1.0\" is not a Debian package name (versions are pinned by the lock, not here)"},
		{"packages scalar", "name: t\nkernel: {package: k1}\npackages: aa\n", "s.yml:3: packages: want a list, got \"aa\""},
		{"no kernel", "name: t\npackages: [aa]\n", "s.yml: kernel.package: missing: name the kernel package, e.g. linux-image-cloud-amd64"},
		{"module", "name: t\npackages: [aa]\nkernel:\n  package: k1\n  modules: [ok, 'no/slash']\n", "s.yml:5: kernel.modules[1]: \"no/slash\" is not a module name like \"dm_verity\""},
		{"kernel twice", base + "kernel: {package: k2}\n", "s.yml:4: kernel: field given twice"},
		{"uid string", base + "users: [{name: a, uid: one}]\n", "s.yml:4: users[0].uid: want a whole number, got \"one\""},
		{"uid zero", base + "groups: [{name: a, gid: 5}]\nusers: [{name: a, uid: 0}]\n", "s.yml:5: users[0].uid: 0: want a uid from 1 to 4294967294 (0 is root, implicit)"},
		{"root declared", base + "users: [{name: root, uid: 5}]\n", "s.yml:4: users[0].name: user \"root\" is declared twice (root is implicit)"},
		{"undeclared group", base + "users: [{name: a, uid: 5}]\n", "s.yml:4: users[0].group: group \"a\" is not declared under groups"},
		{"supplementary", base + "groups: [{name: a, gid: 5}]\nusers:\n  - name: a\n    uid: 5\n    groups: [docker]\n", "s.yml:8: users[0].groups[0]: group \"docker\" is not declared under groups"},
		{"gid twice", base + "groups: [{name: a, gid: 5}, {name: b, gid: 5}]\n", "s.yml:4: groups[1].gid: gid 5 is used twice"},
		{"relative path", base + "files: [{path: etc/x, contents: x}]\n", "s.yml:4: files[0].path: \"etc/x\": want an absolute path without '.', '..' or a trailing '/'"},
		{"dotdot path", base + "directories: [{path: /a/../b}]\n", "s.yml:4: directories[0].path: \"/a/../b\": want an absolute path without '.', '..' or a trailing '/'"},
		{"both", base + "files:\n  - path: /x\n    contents: a\n    source: b\n", "s.yml:5: files[0]: give contents or source, not both"},
		{"escape", base + "files:\n  - path: /x\n    source: ../../etc/passwd\n", "s.yml:6: files[0].source: ../../etc/passwd is not beside the spec (inside .)"},
		{"path twice", base + "files: [{path: /x, contents: a}]\nsymlinks: [{path: /x, target: y}]\n", "s.yml:5: symlinks[0].path: /x is already declared at files[0].path"},
		{"mode", base + "files: [{path: /x, contents: a, mode: '0999'}]\n", "s.yml:4: files[0].mode: want an octal mode like \"0755\", got \"0999\""},
		{"mode big", base + "directories: [{path: /x, mode: 17777}]\n", "s.yml:4: directories[0].mode: want an octal mode like \"0755\", got \"17777\""},
		{"ready socket", base + "services:\n  - name: a\n    command: /bin/a\n    ready: {socket: run/a.sock}\n", "s.yml:7: services[0].ready.socket: \"run/a.sock\": want the absolute path of the service's unix socket"},
		{"ready timeout", base + "services:\n  - name: a\n    command: /bin/a\n    ready: {socket: /run/a.sock, timeout: 5}\n", "s.yml:7: services[0].ready.timeout: \"5\": want a duration of a second or more, like \"3m\""},
		{"data root", base + "data: [/]\n", "s.yml:4: data[0]: \"/\": want a clean absolute directory below /"},
		{"mode zero", base + "files: [{path: /x, contents: a, mode: \"0\"}]\n", "s.yml:4: files[0].mode: \"0\" gives nobody any access; write the mode you mean (\"0600\", \"0755\"), or leave mode out for the default"},
		{"owner", base + "files: [{path: /x, contents: a, owner: bob}]\n", "s.yml:4: files[0].owner: \"bob\" is neither a declared name nor a number"},
		{"no target", base + "symlinks: [{path: /x}]\n", "s.yml:4: symlinks[0].target: missing or invalid link target"},
		{"caps name", base + "capabilities: [{path: /x, caps: cap_fly=ep}]\n", "s.yml:4: capabilities[0].caps: \"cap_fly\" is not a Linux capability (like cap_net_raw)"},
		{"caps effective", base + "capabilities: [{path: /x, caps: 'cap_net_raw=p cap_chown=ep'}]\n", "s.yml:4: capabilities[0].caps: \"cap_net_raw=p cap_chown=ep\": file capabilities have a single effective bit: give \"e\" to all of them or none"},
		{"caps missing", base + "capabilities: [{path: /x}]\n", "s.yml:4: capabilities[0].caps: missing: e.g. \"cap_net_bind_service=ep\""},
		{"service dup", base + "services:\n  - {name: a, command: /a}\n  - {name: a, command: /b}\n", "s.yml:6: services[1].name: service \"a\" is declared twice"},
		{"service command", base + "services: [{name: a, command: a}]\n", "s.yml:4: services[0].command: \"a\": want the absolute path of a program in the image"},
		{"service user", base + "services: [{name: a, command: /a, user: nobody}]\n", "s.yml:4: services[0].user: user \"nobody\" is not declared under users"},
		{"restart", base + "services: [{name: a, command: /a, restart: sometimes}]\n", "s.yml:4: services[0].restart: \"sometimes\": want always, on-failure or never"},
		{"env", base + "services: [{name: a, command: /a, env: {'1X': y}}]\n", "s.yml:4: services[0].env.1X: not a valid environment variable name"},
		{"depends", base + "services: [{name: a, command: /a, depends: [b]}]\n", "s.yml:4: services[0].depends[0]: service \"b\" is not declared"},
		{"cycle", base + "services:\n  - {name: a, command: /a, depends: [b]}\n  - {name: b, command: /b, depends: [c]}\n  - {name: c, command: /c, depends: [a]}\n", "s.yml:5: services[0].depends: dependency cycle: a -> b -> c -> a"},
		{"verity", base + "verity: {corruption: ignore}\n", "s.yml:4: verity.corruption: \"ignore\": want \"restart_on_corruption\" or \"panic_on_corruption\""},
		{"rootfs compression", base + "rootfs: {compression: zip}\n", "s.yml:4: rootfs.compression: \"zip\": want \"lz4hc\", \"lz4\" or \"none\""},
		{"rootfs key", base + "rootfs: {compress: lz4}\n", "s.yml:4: rootfs.compress: unknown field (want one of: compression, exclude, keep)"},
		{"rootfs exclude glob", base + "rootfs:\n  exclude: [/usr/share/doc, '/usr/[share']\n", "s.yml:5: rootfs.exclude[1]: \"/usr/[share\" is not a valid glob (syntax error in pattern): use *, ? and [a-z] within one path name"},
		{"rootfs keep relative", base + "rootfs: {keep: [usr/share/doc/*/copyright]}\n", "s.yml:4: rootfs.keep[0]: \"usr/share/doc/*/copyright\": want an absolute, clean path glob below / like \"/usr/share/man\""},
		{"rootfs exclude root", base + "rootfs: {exclude: [/]}\n", "s.yml:4: rootfs.exclude[0]: \"/\": want an absolute, clean path glob below / like \"/usr/share/man\""},
		{"console", base + "console: ssh\n", "s.yml:4: console: \"ssh\": want \"shell\" or \"none\""},
		{"settings list", base + "settings: [a]\n", "s.yml:4: settings: want a mapping, got a list"},
		{"settings alias", base + "settings:\n  a: &x 1\n  b: *x\n", "s.yml:5: settings: YAML anchors and aliases are not supported; write the value out"},
		{"keyring", base + "debian: {keyring: nope.gpg}\n", "s.yml:4: debian.keyring: nope.gpg: not a readable file (paths are relative to the spec)"},
		{"bool for string list", base + "debian: {components: [{a: b}]}\n", "s.yml:4: debian.components[0]: want a string, got a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("s.yml", []byte(tt.yaml))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse = %v, want an *Error", err)
			}
			if err.Error() != tt.want {
				t.Errorf("Parse error\n got: %s\nwant: %s", err, tt.want)
			}
		})
	}
}

func TestSetting(t *testing.T) {
	s, err := Parse("s.yml", []byte(base+"settings:\n  engine:\n    tls: true\n    port: 2376\n  other: x\n"))
	if err != nil {
		t.Fatal(err)
	}
	type engine struct {
		TLS  bool `yaml:"tls"`
		Port int  `yaml:"port"`
	}
	var e engine
	ok, err := s.Setting("engine", &e)
	if err != nil || !ok || e != (engine{true, 2376}) {
		t.Errorf("Setting(engine) = %v, %v, %+v", ok, err, e)
	}
	if ok, err := s.Setting("absent", &e); ok || err != nil {
		t.Errorf("Setting(absent) = %v, %v", ok, err)
	}
	var wrong struct {
		TLS string `yaml:"tls"`
	}
	_, err = s.Setting("engine", &wrong)
	if err == nil || err.Error() != "s.yml:7: settings.engine.port: unknown field (want one of: tls)" {
		t.Errorf("Setting(strict) = %v", err)
	}
	if diff := cmp.Diff([]string{"engine", "other"}, s.SettingKeys()); diff != "" {
		t.Errorf("SettingKeys diff:\n%s", diff)
	}
	if err := s.CheckSettings("engine", "other"); err != nil {
		t.Errorf("CheckSettings(all keys) = %v", err)
	}
	if err := s.CheckSettings("engine", "config"); err == nil || !strings.HasPrefix(err.Error(), "s.yml:") || !strings.Contains(err.Error(), "settings.other: unknown setting (want one of: engine, config)") {
		t.Errorf("CheckSettings(misspelt) = %v", err)
	}
}

func TestAccounts(t *testing.T) {
	s, err := Parse("s.yml", []byte(base+`
groups: [{name: docker, gid: 999}, {name: console, gid: 1000}]
users:
  - {name: engine, uid: 998, group: docker}
  - {name: console, uid: 1000, groups: [docker, root], home: /home/console, shell: /bin/sh}
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, got, want string }{
		{"passwd", string(s.PasswdFile()), "root:x:0:0:root:/root:/bin/sh\nengine:x:998:999:engine:/nonexistent:/usr/sbin/nologin\nconsole:x:1000:1000:console:/home/console:/bin/sh\n"},
		{"group", string(s.GroupFile()), "root:x:0:console\ndocker:x:999:console\nconsole:x:1000:\n"},
		{"shadow", string(s.ShadowFile()), "root:!::0:99999:7:::\nengine:!::0:99999:7:::\nconsole:!::0:99999:7:::\n"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, tt.got, tt.want)
		}
	}
	for _, c := range []struct {
		in   string
		f    func(string) (int, error)
		want int
	}{{"", s.UID, 0}, {"console", s.UID, 1000}, {"42", s.UID, 42}, {"docker", s.GID, 999}, {"root", s.GID, 0}, {"7", s.GID, 7}} {
		if got, err := c.f(c.in); err != nil || got != c.want {
			t.Errorf("resolve %q = %d, %v, want %d", c.in, got, err, c.want)
		}
	}
	if _, err := s.UID("nobody"); err == nil || !strings.Contains(err.Error(), `user "nobody" is not declared`) {
		t.Errorf("UID(nobody) = %v", err)
	}
}
