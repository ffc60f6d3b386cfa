package vm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// setupTPM manufactures the TPM's state on first use: an EK with a
// certificate (swtpm's local CA) so that attestation can check it, and only
// the sha256 PCR bank, the one hardenvm predicts.
func setupTPM(ctx context.Context, c *Config) error {
	if _, err := os.Stat(filepath.Join(c.TPMState, "tpm2-00.permall")); err == nil {
		return nil
	}
	if err := os.MkdirAll(c.TPMState, 0o700); err != nil {
		return fmt.Errorf("vm: TPM state %s: %w", c.TPMState, err)
	}
	base := []string{"--tpm2", "--tpmstate", c.TPMState, "--pcr-banks", "sha256"}
	withCerts := append(append([]string{}, base...), "--create-ek-cert", "--create-platform-cert")
	out, err := exec.CommandContext(ctx, "swtpm_setup", withCerts...).CombinedOutput()
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("vm: swtpm_setup not found: install the Debian package swtpm-tools")
		}
		// The local CA needs a writable /var/lib/swtpm-localca; without
		// it the TPM still works, only without an EK certificate.
		c.Log.Warn("swtpm_setup could not create EK certificates; continuing without", "error", err, "output", lastLine(string(out)))
		if out, err := exec.CommandContext(ctx, "swtpm_setup", base...).CombinedOutput(); err != nil {
			return fmt.Errorf("vm: swtpm_setup: %v: %s", err, lastLine(string(out)))
		}
	}
	return nil
}

// startTPM runs swtpm for one QEMU; --terminate makes it exit when QEMU
// disconnects.
func startTPM(ctx context.Context, c *Config) (*exec.Cmd, error) {
	if err := setupTPM(ctx, c); err != nil {
		return nil, err
	}
	sock := c.tpmSocket()
	os.Remove(sock)
	cmd := exec.Command("swtpm", "socket", "--tpm2",
		"--tpmstate", "dir="+c.TPMState,
		"--ctrl", "type=unixio,path="+sock,
		"--log", "file="+filepath.Join(c.StateDir, "swtpm.log")+",level=1",
		"--terminate")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("vm: swtpm not found: install the Debian package swtpm")
		}
		return nil, fmt.Errorf("vm: starting swtpm: %w", err)
	}
	c.Log.Debug("started swtpm", "pid", cmd.Process.Pid, "state", c.TPMState)
	// Wait (bounded) for its control socket.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return cmd, nil
		} else if !errors.Is(err, fs.ErrNotExist) || time.Now().After(deadline) {
			killGroup(cmd)
			return nil, fmt.Errorf("vm: swtpm did not create %s within 10s (see %s)", sock, filepath.Join(c.StateDir, "swtpm.log"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
