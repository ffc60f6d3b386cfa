package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hardenvm/hardenvm/boot/init/internal/tpm"
	"github.com/hardenvm/hardenvm/boot/measure"
	"golang.org/x/sys/unix"
)

// openTPM waits (bounded) for the kernel's TPM device: the resource
// manager node if there is one, else the raw device. No TPM is fatal: a
// VM that cannot be attested is not started.
func openTPM(timeout time.Duration) (*os.File, error) {
	deadline := time.Now().Add(timeout)
	for {
		for _, p := range []string{"/dev/tpmrm0", "/dev/tpm0"} {
			// Opened blocking, outside Go's poller: in non-blocking mode
			// the kernel queues the command and a read before the
			// response is ready returns 0 bytes.
			fd, err := unix.Open(p, unix.O_RDWR|unix.O_CLOEXEC, 0)
			if err == nil {
				return os.NewFile(uintptr(fd), p), nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no TPM (/dev/tpmrm0, /dev/tpm0) within %v: the boot cannot be measured", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func openEventLog(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("creating the PCR %d event log: %w", measure.PCR, err)
	}
	return f, nil
}

// measurer extends PCR 15 and keeps the log of what it extended.
type measurer struct {
	tpm    *os.File
	log    *os.File
	events []measure.Event
}

func (m *measurer) extend(e measure.Event) error {
	if _, err := tpm.PCREvent(m.tpm, measure.PCR, []byte(e.Data)); err != nil {
		return fmt.Errorf("measuring %q: %w", e.Data, err)
	}
	m.events = append(m.events, e)
	if err := measure.AppendLog(m.log, e); err != nil {
		return fmt.Errorf("writing the PCR %d event log: %w", measure.PCR, err)
	}
	return nil
}

// check reads PCR 15 back and compares it with the replay of the log. A
// difference means something else extended PCR 15; attestation will
// refuse this boot, so say it clearly (the data itself is verified).
func (m *measurer) check() {
	got, err := tpm.PCRRead(m.tpm, measure.PCR)
	want := measure.Replay(m.events)
	switch {
	case errors.Is(err, tpm.ErrNoBank):
		say("PCR %d: the TPM has no SHA-256 bank", measure.PCR)
	case err != nil:
		say("WARNING: reading PCR %d back: %v", measure.PCR, err)
	case !bytes.Equal(got, want[:]):
		say("WARNING: PCR %d is %x but the event log replays to %x: something else extended it", measure.PCR, got, want)
	default:
		say("PCR %d %x", measure.PCR, got)
	}
}
