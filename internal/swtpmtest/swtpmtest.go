// Package swtpmtest runs a private software TPM (swtpm) for a test, and
// speaks to it the way guest code speaks to /dev/tpmrm0: one Read returns
// one whole response. It is stopped by its pid when the test ends.
package swtpmtest

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/internal/testenv"
)

// Options say how to manufacture the TPM.
type Options struct {
	// EKCert runs swtpm_setup first, as pkg/vm does: an EK with a
	// certificate from swtpm's local CA, and only the sha256 bank.
	EKCert bool
	// Timeout bounds the whole conversation (30 s when zero).
	Timeout time.Duration
}

// Conn is the TPM's command channel.
type Conn struct{ net.Conn }

// Read returns one whole TPM response per call.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) < 10 {
		return 0, errors.New("swtpmtest: read buffer smaller than a response header")
	}
	if _, err := io.ReadFull(c.Conn, p[:10]); err != nil {
		return 0, err
	}
	n := int(binary.BigEndian.Uint32(p[2:]))
	if n < 10 || n > len(p) {
		return 0, errors.New("swtpmtest: bad response size")
	}
	_, err := io.ReadFull(c.Conn, p[10:n])
	return n, err
}

// Send is a go-tpm transport: it writes one command and returns its
// response.
func (c *Conn) Send(cmd []byte) ([]byte, error) {
	if _, err := c.Write(cmd); err != nil {
		return nil, err
	}
	buf := make([]byte, 1<<16)
	n, err := c.Read(buf)
	return buf[:n], err
}

// Start runs a fresh swtpm and connects to it.
func Start(t testing.TB, o Options) *Conn {
	t.Helper()
	bin := testenv.Tool(t, "swtpm", "swtpm")
	dir := t.TempDir()
	if o.EKCert {
		setup := testenv.Tool(t, "swtpm_setup", "swtpm-tools")
		if out, err := exec.Command(setup, "--tpm2", "--tpmstate", dir, "--pcr-banks", "sha256", "--create-ek-cert").CombinedOutput(); err != nil {
			t.Fatalf("swtpm_setup: %v\n%s", err, out)
		}
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	sock := filepath.Join(dir, "tpm.sock")
	cmd := exec.Command(bin, "socket", "--tpm2", "--tpmstate", "dir="+dir,
		"--server", "type=unixio,path="+sock, "--ctrl", "type=unixio,path="+filepath.Join(dir, "ctrl.sock"),
		"--flags", "not-need-init,startup-clear", "--log", "file="+filepath.Join(dir, "log"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var conn net.Conn
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if conn, err = net.Dial("unix", sock); err == nil {
			break
		}
	}
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		t.Fatalf("swtpm did not listen: %v\n%s", err, log)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(o.Timeout))
	return &Conn{conn}
}
