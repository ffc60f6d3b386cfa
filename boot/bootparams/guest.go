package bootparams

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
)

// GuestPath is where the build writes the guest's settings in the root
// file system (so they are covered by the root hash); stage 2 reads it.
const GuestPath = "etc/hardenvm/guest.json"

// Guest is what stage 2 needs from the image spec.
type Guest struct {
	// Services are started in order, each after the ones it depends on.
	Services []Service `json:"services"`
	// ConsoleUser is the account of the read-only root console
	// ("console" when empty); the kernel command line's
	// hardenvm.console=none turns the console off.
	ConsoleUser string `json:"consoleUser,omitempty"`
	// Data are directories of the root (they must exist there) that
	// stage 2 replaces with writable directories of the data partition
	// ("/var/lib/docker"), persistent across boots.
	Data []string `json:"data,omitempty"`
}

// The data partition: created by stage 2 on first boot in the disk's
// free space after the last partition (GPT type Linux data, this name),
// formatted ext4, mounted nosuid,nodev at DataMount. hardenvm run
// attaches a data disk of its own instead, kept in its state directory so
// the state outlives the run: a virtio disk whose serial is DataDiskSerial,
// used whole, and preferred to the partition.
const (
	DataPartitionName = "hardenvm-data"
	DataDiskSerial    = "hardenvm-data"
	DataMount         = "/run/hardenvm/data"
)

// Service is one supervised process (imagespec.Service, resolved).
type Service struct {
	Name    string            `json:"name"`
	Command string            `json:"command"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	User    string            `json:"user,omitempty"` // account name in the root's /etc/passwd; "" is root
	Restart string            `json:"restart,omitempty"`
	Depends []string          `json:"depends,omitempty"`
	// Ready, when set, is how stage 2 tells that the service is ready;
	// it says READY only when every such service is.
	Ready *Readiness `json:"ready,omitempty"`
}

// Readiness is a service's readiness check: its unix socket accepts a
// connection and, with HTTPGet, answers an HTTP GET of that path with 200
// (dockerd's /_ping). TimeoutSeconds bounds the wait from boot.
type Readiness struct {
	Socket         string `json:"socket"`
	HTTPGet        string `json:"httpGet,omitempty"`
	TimeoutSeconds int    `json:"timeoutSeconds"`
}

// Restart policies (as in the spec).
const (
	RestartAlways    = "always"
	RestartOnFailure = "on-failure"
	RestartNever     = "never"
)

// MarshalGuest encodes g as the build writes it.
func MarshalGuest(g Guest) ([]byte, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ParseGuest decodes and checks the guest settings strictly.
func ParseGuest(b []byte) (Guest, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var g Guest
	if err := dec.Decode(&g); err != nil {
		return Guest{}, fmt.Errorf("bootparams: %s: %w", GuestPath, err)
	}
	if dec.More() {
		return Guest{}, fmt.Errorf("bootparams: %s: trailing data", GuestPath)
	}
	return g, g.Validate()
}

// Validate checks names, commands, policies and that dependencies exist
// and have no cycle.
func (g Guest) Validate() error {
	seen := map[string]int{}
	for i, s := range g.Services {
		if s.Name == "" || path.Base(s.Name) != s.Name {
			return fmt.Errorf("bootparams: service %d: bad name %q", i, s.Name)
		}
		if _, dup := seen[s.Name]; dup {
			return fmt.Errorf("bootparams: service %s declared twice", s.Name)
		}
		seen[s.Name] = i
		if !path.IsAbs(s.Command) {
			return fmt.Errorf("bootparams: service %s: command %q is not an absolute path", s.Name, s.Command)
		}
		if r := s.Ready; r != nil && (!path.IsAbs(r.Socket) || r.TimeoutSeconds <= 0 || (r.HTTPGet != "" && !strings.HasPrefix(r.HTTPGet, "/"))) {
			return fmt.Errorf("bootparams: service %s: readiness check %+v: want an absolute socket path, a positive timeout and an absolute HTTP path", s.Name, *r)
		}
		switch s.Restart {
		case "", RestartAlways, RestartOnFailure, RestartNever:
		default:
			return fmt.Errorf("bootparams: service %s: restart %q: want %s, %s or %s", s.Name, s.Restart, RestartAlways, RestartOnFailure, RestartNever)
		}
	}
	for _, s := range g.Services {
		for _, d := range s.Depends {
			if _, ok := seen[d]; !ok {
				return fmt.Errorf("bootparams: service %s depends on unknown service %s", s.Name, d)
			}
		}
	}
	for _, d := range g.Data {
		if !path.IsAbs(d) || path.Clean(d) != d || d == "/" {
			return fmt.Errorf("bootparams: data directory %q: want a clean absolute path below /", d)
		}
	}
	_, err := g.StartOrder()
	return err
}

// StartOrder returns the services so that each comes after its
// dependencies, otherwise in declaration order.
func (g Guest) StartOrder() ([]Service, error) {
	byName := map[string]Service{}
	for _, s := range g.Services {
		byName[s.Name] = s
	}
	state := map[string]int{}
	var out []Service
	var visit func(n string, chain []string) error
	visit = func(n string, chain []string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("bootparams: services depend on each other in a cycle: %v", append(chain, n))
		case 2:
			return nil
		}
		state[n] = 1
		for _, d := range byName[n].Depends {
			if err := visit(d, append(slices.Clone(chain), n)); err != nil {
				return err
			}
		}
		state[n] = 2
		out = append(out, byName[n])
		return nil
	}
	for _, s := range g.Services {
		if err := visit(s.Name, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}
