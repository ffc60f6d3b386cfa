package tpm

import (
	"bytes"
	"crypto/sha256"
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

// streamConn frames a stream socket as the kernel's TPM device does: one
// Read returns one whole response.
type streamConn struct{ net.Conn }

func (c streamConn) Read(p []byte) (int, error) {
	if _, err := io.ReadFull(c.Conn, p[:10]); err != nil {
		return 0, err
	}
	n := int(binary.BigEndian.Uint32(p[2:]))
	if n < 10 || n > len(p) {
		return 0, errors.New("bad response size")
	}
	_, err := io.ReadFull(c.Conn, p[10:n])
	return n, err
}

// startSWTPM runs a fresh swtpm for the test and stops it by its pid.
func startSWTPM(t *testing.T) io.ReadWriter {
	t.Helper()
	bin := testenv.Tool(t, "swtpm", "swtpm")
	dir := t.TempDir()
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
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	return streamConn{conn}
}

// TestAgainstSWTPM extends PCR 15 twice and reads it back: the value must
// be the SHA-256 chain over the events' digests.
func TestAgainstSWTPM(t *testing.T) {
	tpm := startSWTPM(t)
	got, err := PCRRead(tpm, 15)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, make([]byte, 32)) {
		t.Fatalf("fresh PCR 15 = %x", got)
	}
	want := make([]byte, 32)
	for _, ev := range []string{"hardenvm:root-hash:00ff", "hardenvm:enter-userspace"} {
		d, err := PCREvent(tpm, 15, []byte(ev))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256([]byte(ev))
		if !bytes.Equal(d, h[:]) {
			t.Errorf("PCREvent(%q) digest %x, want %x", ev, d, h)
		}
		s := sha256.Sum256(append(want, h[:]...))
		want = s[:]
	}
	if got, err = PCRRead(tpm, 15); err != nil || !bytes.Equal(got, want) {
		t.Errorf("PCR 15 = %x (%v), want %x", got, err, want)
	}
	if other, err := PCRRead(tpm, 14); err != nil || !bytes.Equal(other, make([]byte, 32)) {
		t.Errorf("PCR 14 = %x (%v), want zeros", other, err)
	}

	// There is no PCR 30: the TPM's error comes back as an Error.
	_, err = PCREvent(tpm, 30, []byte("x"))
	var rc Error
	if !errors.As(err, &rc) {
		t.Errorf("PCREvent(PCR 30) = %v, want a TPM response code", err)
	}
	if _, err := PCREvent(tpm, 15, make([]byte, maxEvent+1)); err == nil {
		t.Error("oversized event accepted")
	}
}

func TestMalformedResponses(t *testing.T) {
	for _, rsp := range [][]byte{
		nil,
		{0x80, 0x01, 0, 0, 0, 10},
		{0x80, 0x01, 0, 0, 0, 12, 0, 0, 0, 0, 1, 2},
		{0x80, 0x02, 0, 0, 0, 14, 0, 0, 0, 0, 0, 0, 0, 99},
	} {
		rw := &canned{rsp: rsp}
		if _, err := PCREvent(rw, 15, []byte("x")); err == nil {
			t.Errorf("PCREvent accepted response %x", rsp)
		}
		if _, err := PCRRead(rw, 15); err == nil {
			t.Errorf("PCRRead accepted response %x", rsp)
		}
	}
}

type canned struct{ rsp []byte }

func (c *canned) Write(p []byte) (int, error) { return len(p), nil }
func (c *canned) Read(p []byte) (int, error)  { return copy(p, c.rsp), nil }
