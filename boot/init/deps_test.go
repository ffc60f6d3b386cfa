package main

import (
	"os/exec"
	"strings"
	"testing"
)

// allowed are the only non-standard packages the guest init may link.
var allowed = map[string]bool{
	"github.com/hardenvm/hardenvm/boot/init":                   true,
	"github.com/hardenvm/hardenvm/boot/init/internal/dm":       true,
	"github.com/hardenvm/hardenvm/boot/init/internal/dhcp":     true,
	"github.com/hardenvm/hardenvm/boot/init/internal/dnsproxy": true,
	"github.com/hardenvm/hardenvm/boot/init/internal/netlink":  true,
	"github.com/hardenvm/hardenvm/boot/init/internal/tpm":      true,
	"github.com/hardenvm/hardenvm/boot/bootparams":             true,
	"github.com/hardenvm/hardenvm/boot/measure":                true,
	"github.com/hardenvm/hardenvm/pkg/gpt":                     true,
	"github.com/hardenvm/hardenvm/pkg/mountinfo":               true,
	"github.com/hardenvm/hardenvm/pkg/verity":                  true,
	"github.com/hardenvm/hardenvm/pkg/adminsettings":           true,
	"github.com/hardenvm/hardenvm/pkg/configpart":              true,
	"golang.org/x/sys/unix":                                    true,
	// pkg/verity's multi-buffer SHA-256 comes with it (the init itself
	// hashes only one block, with crypto/sha256).
	"github.com/hardenvm/hardenvm/pkg/verity/internal/sha256x16": true,
	"golang.org/x/sys/cpu": true,
}

// TestDependencies keeps the PID 1 of the VM small and auditable: the
// standard library, x/sys, and a few stdlib-only packages of ours.
func TestDependencies(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if !allowed[p] {
			t.Errorf("the guest init depends on %s", p)
		}
	}
}
