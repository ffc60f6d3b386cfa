package vm

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// Powerdown presses the VM's ACPI power button (QMP system_powerdown), so
// the guest can shut down in order.
func (m *Machine) Powerdown() error {
	_, err := m.qmp("system_powerdown", nil)
	return err
}

// AddHostForward forwards proto ("tcp" or "udp") port hostPort of the
// host's 127.0.0.1 to guestPort of the guest while the VM runs (QEMU's
// hostfwd_add on the user-mode network).
func (m *Machine) AddHostForward(proto string, hostPort, guestPort int) error {
	// Silence is success; anything said is the error.
	return m.hmp(fmt.Sprintf("hostfwd_add net0 %s:127.0.0.1:%d-:%d", proto, hostPort, guestPort), "")
}

// RemoveHostForward ends a forward AddHostForward made.
func (m *Machine) RemoveHostForward(proto string, hostPort int) error {
	return m.hmp(fmt.Sprintf("hostfwd_remove net0 %s:127.0.0.1:%d", proto, hostPort), "removed")
}

// hmp runs a human monitor command through QMP. HMP answers in text: the
// command succeeded when the text contains ok (or is empty, for ok "").
func (m *Machine) hmp(line, ok string) error {
	out, err := m.qmp("human-monitor-command", map[string]any{"command-line": line})
	if err != nil {
		return err
	}
	var text string
	json.Unmarshal(out, &text)
	text = strings.TrimSpace(text)
	if (ok == "" && text != "") || !strings.Contains(text, ok) {
		return fmt.Errorf("vm: %s: %s", line, text)
	}
	return nil
}

// qmp runs one QMP command over the machine's monitor socket and returns
// its answer.
func (m *Machine) qmp(command string, args map[string]any) (json.RawMessage, error) {
	conn, err := net.DialTimeout("unix", m.cfg.qmpSocket(), 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("vm: QMP: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	if _, err := r.ReadBytes('\n'); err != nil { // greeting
		return nil, fmt.Errorf("vm: QMP greeting: %w", err)
	}
	var ret json.RawMessage
	cmd := map[string]any{"execute": command}
	if args != nil {
		cmd["arguments"] = args
	}
	for _, c := range []map[string]any{{"execute": "qmp_capabilities"}, cmd} {
		if err := json.NewEncoder(conn).Encode(c); err != nil {
			return nil, fmt.Errorf("vm: QMP %s: %w", c["execute"], err)
		}
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return nil, fmt.Errorf("vm: QMP %s: %w", c["execute"], err)
			}
			var resp struct {
				Return json.RawMessage `json:"return"`
				Error  *struct {
					Desc string `json:"desc"`
				} `json:"error"`
			}
			if json.Unmarshal(line, &resp) != nil {
				continue
			}
			if resp.Error != nil {
				return nil, fmt.Errorf("vm: QMP %s: %s", c["execute"], resp.Error.Desc)
			}
			if resp.Return != nil {
				ret = resp.Return
				break
			}
			// an asynchronous event: keep reading
		}
	}
	return ret, nil
}

// Shutdown presses the power button and waits, at most timeout, for the
// guest to shut down in order (its init unmounts the data disk, so the
// file system is clean); then, or if the button cannot be pressed, it
// stops the VM. It reports whether the guest went down by itself.
func (m *Machine) Shutdown(timeout time.Duration) error {
	err := m.Powerdown()
	if err == nil {
		select {
		case <-m.done:
			return nil
		case <-time.After(timeout):
			err = fmt.Errorf("vm: the guest did not power off within %v of the power button", timeout)
		}
	}
	m.Stop()
	return err
}

// CreateDisk makes a sparse raw disk of size bytes at path unless a file
// is there already (a data disk is created once and kept).
func CreateDisk(path string, size int64) (created bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("vm: data disk: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		os.Remove(path)
		return false, fmt.Errorf("vm: data disk %s: %w", path, err)
	}
	return true, nil
}
