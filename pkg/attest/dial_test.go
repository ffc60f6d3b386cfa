package attest

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardenvm/hardenvm/pkg/attest/agentproto"
)

// listen serves a unix socket whose connections get answer(request) for
// each request line; a nil answer function never answers.
func listen(t *testing.T, answer func(req agentproto.Request) []string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go func() {
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadBytes('\n')
					if err != nil || answer == nil {
						continue
					}
					var req agentproto.Request
					json.Unmarshal(line, &req)
					for _, a := range answer(req) {
						c.Write([]byte(a + "\n"))
					}
				}
			}()
		}
	}()
	return sock
}

func TestDial(t *testing.T) {
	old := PingTimeout
	PingTimeout = 500 * time.Millisecond
	t.Cleanup(func() { PingTimeout = old })
	pong := func(req agentproto.Request) string {
		b, _ := json.Marshal(agentproto.Response{Pong: req.Nonce})
		return string(b)
	}
	tests := []struct {
		name   string
		answer func(req agentproto.Request) []string
		want   string // in the error; "" for success
	}{
		{"nobody answers", nil, "no agent answered on"},
		{"agent", func(req agentproto.Request) []string { return []string{pong(req)} }, ""},
		{"older agent", func(req agentproto.Request) []string { return []string{`{"error":"unknown op \"ping\""}`} }, ""},
		{"stale answers first", func(req agentproto.Request) []string {
			return []string{`{"error":"the nonce must be 16 to 64 bytes"}`, `{"pong":"AAAAAAAAAAAAAAAAAAAAAA=="}`, pong(req)}
		}, ""},
		{"garbage", func(req agentproto.Request) []string { return []string{"hello?"} }, "garbled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sock := listen(t, tt.answer)
			start := time.Now()
			c, err := Dial(context.Background(), sock)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("Dial took %v", took)
			}
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Dial = %v", err)
				}
				c.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), sock) {
				t.Errorf("Dial = %v, want an error naming %s and containing %q", err, sock, tt.want)
			}
		})
	}
}
