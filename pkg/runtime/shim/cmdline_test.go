package shim

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want cmdline
	}{
		{
			name: "containerd create",
			argv: []string{"--root", "/run/containerd/runc/moby", "--log", "/b/log.json", "--log-format", "json", "--systemd-cgroup",
				"create", "--bundle", "/b", "--pid-file", "/b/init.pid", "--console-socket=/tmp/c.sock", "abc123"},
			want: cmdline{
				args: []string{"--root", "/run/containerd/runc/moby", "--log", "/b/log.json", "--log-format", "json", "--systemd-cgroup",
					"create", "--bundle", "/b", "--pid-file", "/b/init.pid", "--console-socket=/tmp/c.sock", "abc123"},
				global:  map[string]string{"root": "/run/containerd/runc/moby", "log": "/b/log.json", "log-format": "json", "systemd-cgroup": "true"},
				command: "create",
				cmdArgs: []string{"--bundle", "/b", "--pid-file", "/b/init.pid", "--console-socket=/tmp/c.sock", "abc123"},
				bundle:  "/b", id: "abc123", pidFile: "/b/init.pid",
			},
		},
		{
			name: "our flags are removed",
			argv: []string{"--hardenvm-settings", "/etc/s.json", "--hardenvm-runtime=/usr/libexec/runc", "--debug", "run", "-d", "-b", "/b", "--preserve-fds", "2", "c1"},
			want: cmdline{
				args:    []string{"--debug", "run", "-d", "-b", "/b", "--preserve-fds", "2", "c1"},
				global:  map[string]string{"hardenvm-settings": "/etc/s.json", "hardenvm-runtime": "/usr/libexec/runc", "debug": "true"},
				command: "run", cmdArgs: []string{"-d", "-b", "/b", "--preserve-fds", "2", "c1"},
				bundle: "/b", id: "c1", preserveFDs: 2, detach: true,
			},
		},
		{
			name: "passthrough",
			argv: []string{"--root", "/r", "delete", "--force", "c1"},
			want: cmdline{
				args:   []string{"--root", "/r", "delete", "--force", "c1"},
				global: map[string]string{"root": "/r"}, command: "delete", cmdArgs: []string{"--force", "c1"},
			},
		},
		{
			name: "version",
			argv: []string{"--version"},
			want: cmdline{args: []string{"--version"}, global: map[string]string{"version": "true"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCmdline(tt.argv)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.want, got, cmp.AllowUnexported(cmdline{})); diff != "" {
				t.Errorf("parseCmdline (-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range [][]string{
		{"create", "--bundle"},
		{"create", "-b", "/b"},
		{"create", "a", "b"},
		{"create", "../x"},
		{"--root"},
	} {
		if _, err := parseCmdline(bad); err == nil {
			t.Errorf("parseCmdline(%q) succeeded, want an error", bad)
		}
	}
}

// TestDeleteCmd: the delete that undoes a create keeps the create's
// global flags (runc's root above all) and drops ours.
func TestDeleteCmd(t *testing.T) {
	c, err := parseCmdline([]string{"--hardenvm-state", "/s", "--root", "/run/containerd/runc/moby", "--log=/b/log.json",
		"create", "--bundle", "/b", "--pid-file", "/b/init.pid", "abc123"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--root", "/run/containerd/runc/moby", "--log=/b/log.json", "delete", "--force", "abc123"}
	if diff := cmp.Diff(want, c.deleteCmd().args); diff != "" {
		t.Errorf("deleteCmd().args (-want +got):\n%s", diff)
	}
}

func FuzzParseCmdline(f *testing.F) {
	f.Add("--root\x00/r\x00create\x00-b\x00/b\x00id")
	f.Add("run\x00--detach\x00--bundle=/b\x00x")
	f.Fuzz(func(t *testing.T, s string) {
		argv := splitNUL(s)
		c, err := parseCmdline(argv)
		if err != nil {
			return
		}
		if (c.command == "create" || c.command == "run") && !validID(c.id) {
			t.Fatalf("accepted invalid id %q", c.id)
		}
		if c.command == "create" || c.command == "run" {
			d := c.deleteCmd().args
			if got := d[len(d)-3:]; got[0] != "delete" || got[1] != "--force" || got[2] != c.id {
				t.Fatalf("deleteCmd of %q = %q", argv, d)
			}
		}
		for _, a := range c.args {
			if n, _, _, ok := flagName(a); ok && len(n) > 9 && n[:9] == "hardenvm-" && c.command == "" {
				t.Fatalf("our flag %q leaked to the real runtime", a)
			}
		}
	})
}

func splitNUL(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func TestDefaultRuntimeSkipsSelf(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "runc")
	if err := os.WriteFile(other, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	saved := DefaultRuntimes
	defer func() { DefaultRuntimes = saved }()
	DefaultRuntimes = []string{filepath.Join(t.TempDir(), "missing"), self, other}
	if got := defaultRuntime(); got != other {
		t.Errorf("defaultRuntime() = %s, want %s (the shim itself and missing files skipped)", got, other)
	}
	if err := notSelf(self); err == nil {
		t.Errorf("notSelf(own binary) = nil, want an error")
	}
}
