package mountguard

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestAddRules(t *testing.T) {
	spec := func(caps ...string) *specs.Spec {
		return &specs.Spec{
			Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}},
			Linux: &specs.Linux{Seccomp: &specs.LinuxSeccomp{
				DefaultAction: specs.ActErrno,
				Syscalls: []specs.LinuxSyscall{
					{Names: []string{"read", "mount", "umount2"}, Action: specs.ActAllow},
					{Names: []string{"mount_setattr"}, Action: specs.ActAllow},
				},
			}},
		}
	}
	if AddRules(spec("CAP_CHOWN"), "/s") {
		t.Error("AddRules for a container without CAP_SYS_ADMIN: want no rules")
	}
	s := spec("CAP_SYS_ADMIN")
	if !AddRules(s, "/run/x/mg.sock") {
		t.Fatal("AddRules for a container with CAP_SYS_ADMIN: want rules")
	}
	sc := s.Linux.Seccomp
	if sc.ListenerPath != "/run/x/mg.sock" {
		t.Errorf("listenerPath %q", sc.ListenerPath)
	}
	action := map[string][]specs.LinuxSeccompAction{}
	for _, r := range sc.Syscalls {
		for _, n := range r.Names {
			action[n] = append(action[n], r.Action)
		}
	}
	for _, tt := range []struct {
		names []string
		want  specs.LinuxSeccompAction
	}{{Trapped, specs.ActNotify}, {Allowed, specs.ActAllow}} {
		for _, n := range tt.names {
			if !slices.Equal(action[n], []specs.LinuxSeccompAction{tt.want}) {
				t.Errorf("%s: actions %v, want only %s", n, action[n], tt.want)
			}
		}
	}
	errno := map[string]uint{}
	for _, r := range sc.Syscalls {
		for _, n := range r.Names {
			if r.ErrnoRet != nil {
				errno[n] = *r.ErrnoRet
			}
		}
	}
	for _, tt := range []struct {
		names []string
		errno uint
	}{{NewMountAPI, 38}} {
		for _, n := range tt.names {
			if !slices.Equal(action[n], []specs.LinuxSeccompAction{specs.ActErrno}) || errno[n] != tt.errno {
				t.Errorf("%s: actions %v errno %d, want only errno %d", n, action[n], errno[n], tt.errno)
			}
		}
	}
	if !slices.Equal(action["read"], []specs.LinuxSeccompAction{specs.ActAllow}) {
		t.Errorf("read: actions %v, want the engine's allow kept", action["read"])
	}
	n := len(sc.Syscalls)
	RemoveRules(s, "/run/other")
	if sc.ListenerPath == "" || len(sc.Syscalls) != n {
		t.Error("RemoveRules with another state directory changed the profile")
	}
	RemoveRules(s, "/run/x/")
	if sc.ListenerPath != "" || len(sc.Syscalls) != n-3 {
		t.Errorf("RemoveRules: listener %q, %d rules; want none and %d", sc.ListenerPath, len(sc.Syscalls), n-3)
	}
	noProfile := spec("CAP_SYS_ADMIN")
	noProfile.Linux.Seccomp = nil
	if AddRules(noProfile, "/s") {
		t.Error("AddRules without a profile: want no rules (the policy adds the profile first)")
	}
}
