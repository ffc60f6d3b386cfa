package vm

import (
	"bufio"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
)

// fakeQMP answers like QEMU's monitor: a greeting, then one answer per
// command; human-monitor-command answers with hmp(command line).
func fakeQMP(t *testing.T, path string, hmp func(string) string) *[]map[string]any {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	got := &[]map[string]any{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(`{"QMP": {"version": {}, "capabilities": []}}` + "\n"))
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				var cmd map[string]any
				if err := json.Unmarshal(sc.Bytes(), &cmd); err != nil {
					c.Write([]byte(`{"error": {"desc": "bad JSON"}}` + "\n"))
					continue
				}
				mu.Lock()
				*got = append(*got, cmd)
				mu.Unlock()
				if a, ok := cmd["arguments"]; ok && a == nil {
					c.Write([]byte(`{"error": {"desc": "QMP input member 'arguments' must be an object"}}` + "\n"))
					continue
				}
				if cmd["execute"] == "human-monitor-command" {
					line := cmd["arguments"].(map[string]any)["command-line"].(string)
					b, _ := json.Marshal(map[string]any{"return": hmp(line)})
					c.Write(append(b, '\n'))
					continue
				}
				c.Write([]byte(`{"return": {}}` + "\n"))
			}
			c.Close()
		}
	}()
	return got
}

func TestQMPCommands(t *testing.T) {
	m := &Machine{cfg: Config{StateDir: t.TempDir()}}
	got := fakeQMP(t, m.cfg.qmpSocket(), func(line string) string {
		switch {
		case strings.HasPrefix(line, "hostfwd_add net0 tcp:127.0.0.1:8080-:8080"):
			return ""
		case strings.HasPrefix(line, "hostfwd_add"):
			return "could not set up host forwarding rule"
		case line == "hostfwd_remove net0 tcp:127.0.0.1:8080":
			return "host forwarding rule for tcp:127.0.0.1:8080 removed\r\n"
		}
		return "invalid format"
	})
	if err := m.Powerdown(); err != nil {
		t.Errorf("Powerdown = %v", err)
	}
	if err := m.AddHostForward("tcp", 8080, 8080); err != nil {
		t.Errorf("AddHostForward = %v", err)
	}
	if err := m.AddHostForward("tcp", 22, 22); err == nil || !strings.Contains(err.Error(), "could not set up") {
		t.Errorf("AddHostForward refused = %v, want the monitor's text", err)
	}
	if err := m.RemoveHostForward("tcp", 8080); err != nil {
		t.Errorf("RemoveHostForward = %v", err)
	}
	if err := m.RemoveHostForward("udp", 9); err == nil {
		t.Error("RemoveHostForward of no rule succeeded")
	}
	if n := len(*got); n != 10 { // capabilities + command, five times
		t.Errorf("%d commands sent, want 10", n)
	}
}
