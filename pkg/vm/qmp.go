package vm

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
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
