package qemu

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testenv"
	"github.com/hardenvm/hardenvm/pkg/efivars"
	"github.com/hardenvm/hardenvm/pkg/imagebuild"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
)

// TestDiskFormatsBoot builds the minimal image with its disk also as qcow2
// and VHDX, and boots each of them to READY the way a person does
// (`hardenvm run DIR --disk-format F`: verified first, then QEMU with
// format=F, read-only, under Secure Boot with a TPM). Two boots, one build.
func TestDiskFormatsBoot(t *testing.T) {
	requireQEMU(t)
	testenv.File(t, efivars.DefaultTemplate, "ovmf")
	keysDir := newKeys(t)
	img := filepath.Join(t.TempDir(), "minimal")
	spec, _ := filepath.Abs("../../images/minimal.yml")
	if _, err := imagebuild.Build(context.Background(), imagebuild.Options{
		Spec: spec, Out: img, Keys: keysDir, Init: guestInit(t), Agent: guestAgent(t), Epoch: time.Unix(1700000000, 0),
		Formats: []string{imagedir.FormatQCOW2, imagedir.FormatVHDX},
	}); err != nil {
		t.Fatal(err)
	}
	cli := hardenvmBinary(t)
	for _, format := range []string{imagedir.FormatQCOW2, imagedir.FormatVHDX} {
		t.Run(format, func(t *testing.T) {
			start := time.Now()
			cmd := exec.Command(cli, "run", img, "--disk-format", format, "--keys", keysDir,
				"--state", t.TempDir(), "--no-stdin", "--accel", "tcg",
				"--expect", `hardenvm-init: READY`, "--timeout", "8m")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("hardenvm run --disk-format %s: %v\n%s", format, err, tail(out, 4000))
			}
			t.Logf("%s: READY after %v", format, time.Since(start).Round(time.Second))
		})
	}
}

// tail is the last n bytes of b.
func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
