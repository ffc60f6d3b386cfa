package vm

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// Powerdown presses the VM's ACPI power button (QMP system_powerdown), so
// the guest can shut down in order.
func (m *Machine) Powerdown() error { return m.qmp("system_powerdown") }

// qmp runs one QMP command over the machine's monitor socket.
func (m *Machine) qmp(command string) error {
	conn, err := net.DialTimeout("unix", m.cfg.qmpSocket(), 5*time.Second)
	if err != nil {
		return fmt.Errorf("vm: QMP: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	if _, err := r.ReadBytes('\n'); err != nil { // greeting
		return fmt.Errorf("vm: QMP greeting: %w", err)
	}
	for _, c := range []string{"qmp_capabilities", command} {
		if err := json.NewEncoder(conn).Encode(map[string]string{"execute": c}); err != nil {
			return fmt.Errorf("vm: QMP %s: %w", c, err)
		}
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return fmt.Errorf("vm: QMP %s: %w", c, err)
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
				return fmt.Errorf("vm: QMP %s: %s", c, resp.Error.Desc)
			}
			if resp.Return != nil {
				break
			}
			// an asynchronous event: keep reading
		}
	}
	return nil
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
