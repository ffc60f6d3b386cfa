package initramfs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// InitPackage is the Go package of the guest init.
const InitPackage = "github.com/hardenvm/hardenvm/boot/init"

// BuildInit compiles the guest init into out: static (no cgo), for
// linux/amd64, without paths or build IDs, so the same sources and
// toolchain give the same bytes. moduleDir is the hardenvm source tree
// ("" is the current directory).
func BuildInit(ctx context.Context, moduleDir, out string) error {
	return BuildInitFor(ctx, moduleDir, out, "amd64")
}

// BuildInitFor is BuildInit for another GOARCH ("arm64"): Go cross-compiles
// the static init without any other toolchain.
func BuildInitFor(ctx context.Context, moduleDir, out, goarch string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w -buildid=", "-o", out, InitPackage)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOFLAGS=")
	b, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("initramfs: building the guest init for %s: %w: %s", goarch, err, strings.TrimSpace(string(b)))
	}
	return nil
}
