// Package shim is hardenvm's runc-compatible runtime: it takes runc's
// command line, hardens the bundle's config.json on create and run (see
// package runtime), handles rootfs ownership for the user namespace, and
// runs the real runtime with the same arguments. Every other command
// passes straight through with exec.
package shim

import (
	"fmt"
	"strings"
)

// Our own global flags. They are removed before the real runtime sees the
// command line, so dockerd's runtimeArgs can carry them.
const (
	flagSettings = "hardenvm-settings" // settings JSON file
	flagRuntime  = "hardenvm-runtime"  // the real runtime
	flagState    = "hardenvm-state"    // where rootfs mounts are prepared
)

// runc's global flags that take a value (urfave/cli, so "-x v", "--x v",
// "--x=v" are all accepted). Boolean ones (--debug, --systemd-cgroup) need
// no entry.
var globalValueFlags = map[string]bool{
	"log": true, "log-format": true, "root": true, "criu": true, "rootless": true,
	flagSettings: true, flagRuntime: true, flagState: true,
}

// Command-line flags of create and run that take a value.
var createValueFlags = map[string]bool{
	"bundle": true, "b": true, "console-socket": true, "pid-file": true, "preserve-fds": true,
}

// cmdline is a parsed runc command line.
type cmdline struct {
	args    []string          // what the real runtime gets: ours removed
	global  map[string]string // global flags seen (value, or "true")
	command string            // "create", "run", "delete", … ("" for none)
	cmdArgs []string          // everything after the command
	// For create and run:
	bundle      string
	id          string
	preserveFDs int
	detach      bool
	pidFile     string // --pid-file, where runc writes the init's pid
}

func flagName(a string) (name, value string, hasValue bool, ok bool) {
	if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
		return "", "", false, false
	}
	n := strings.TrimLeft(a, "-")
	name, value, hasValue = strings.Cut(n, "=")
	return name, value, hasValue, true
}

func parseCmdline(argv []string) (*cmdline, error) {
	c := &cmdline{global: map[string]string{}}
	i := 0
	for ; i < len(argv); i++ {
		a := argv[i]
		name, value, hasValue, ok := flagName(a)
		if !ok {
			break
		}
		if !hasValue {
			value = "true"
			if globalValueFlags[name] {
				if i+1 >= len(argv) {
					return nil, fmt.Errorf("flag needs an argument: %s", a)
				}
				i++
				value = argv[i]
			}
		}
		c.global[name] = value
		if !strings.HasPrefix(name, "hardenvm-") {
			if hasValue || !globalValueFlags[name] {
				c.args = append(c.args, a)
			} else {
				c.args = append(c.args, a, value)
			}
		}
	}
	if i < len(argv) {
		c.command = argv[i]
		c.cmdArgs = argv[i+1:]
		c.args = append(c.args, argv[i:]...)
	}
	if c.command == "create" || c.command == "run" {
		if err := c.parseCreate(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *cmdline) parseCreate() error {
	c.bundle = "."
	var pos []string
	for i := 0; i < len(c.cmdArgs); i++ {
		a := c.cmdArgs[i]
		if a == "--" {
			pos = append(pos, c.cmdArgs[i+1:]...)
			break
		}
		name, value, hasValue, ok := flagName(a)
		if !ok {
			pos = append(pos, a)
			continue
		}
		if createValueFlags[name] && !hasValue {
			if i+1 >= len(c.cmdArgs) {
				return fmt.Errorf("%s: flag needs an argument: %s", c.command, a)
			}
			i++
			value = c.cmdArgs[i]
		}
		switch name {
		case "bundle", "b":
			c.bundle = value
		case "preserve-fds":
			if _, err := fmt.Sscanf(value, "%d", &c.preserveFDs); err != nil || c.preserveFDs < 0 {
				return fmt.Errorf("%s: --preserve-fds %q: want a count", c.command, value)
			}
		case "pid-file":
			c.pidFile = value
		case "detach", "d":
			c.detach = value != "false"
		}
	}
	if len(pos) != 1 {
		return fmt.Errorf("%s: want exactly one container ID, got %d arguments", c.command, len(pos))
	}
	c.id = pos[0]
	if !validID(c.id) {
		return fmt.Errorf("%s: invalid container ID %q", c.command, c.id)
	}
	return nil
}

// deleteCmd is the command line that force-deletes c's container, with
// c's global flags.
func (c *cmdline) deleteCmd() *cmdline {
	globals := c.args[:len(c.args)-len(c.cmdArgs)-1]
	return &cmdline{
		args:    append(append([]string{}, globals...), "delete", "--force", c.id),
		global:  c.global,
		command: "delete",
		cmdArgs: []string{"--force", c.id},
	}
}

// validID is runc's rule for container IDs, which also keeps them safe as
// a path component.
func validID(id string) bool {
	if id == "" || id == "." || id == ".." || len(id) > 1024 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '+' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
