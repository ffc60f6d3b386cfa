package attest

import (
	"bufio"
	"net"
	"strings"
	"testing"
)

// fakeAgent answers every request line with the given line.
func fakeAgent(t *testing.T, answer string) *Client {
	host, guest := net.Pipe()
	t.Cleanup(func() { host.Close(); guest.Close() })
	go func() {
		r := bufio.NewReader(guest)
		for {
			if _, err := r.ReadString('\n'); err != nil {
				return
			}
			if answer == "" {
				guest.Close()
				return
			}
			guest.Write([]byte(answer))
		}
	}()
	return NewClient(host)
}

// TestClientBadAnswers: whatever the agent sends back, the client returns
// a clear error and never evidence.
func TestClientBadAnswers(t *testing.T) {
	tests := []struct{ name, answer, want string }{
		{"garbled", "{\"evidence\": [1,2\n", "garbled answer"},
		{"truncated", "{\"evidence\":{\"quote\":\"AAAA\"", "cut short"},
		{"unknown field", "{\"evidense\":{}}\n", "garbled answer"},
		{"empty", "{}\n", "empty answer"},
		{"agent error", "{\"error\":\"TPM is busy\"}\n", "TPM is busy"},
		{"hang-up", "", "no answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fakeAgent(t, tt.answer)
			if tt.name == "truncated" {
				// The agent sends half a line and hangs up.
				c = fakeAgentThenClose(t, tt.answer)
			}
			ev, err := c.Quote(NewNonce())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Quote = %v, %v; want an error saying %q", ev, err, tt.want)
			}
		})
	}
}

func fakeAgentThenClose(t *testing.T, answer string) *Client {
	host, guest := net.Pipe()
	t.Cleanup(func() { host.Close() })
	go func() {
		bufio.NewReader(guest).ReadString('\n')
		guest.Write([]byte(answer))
		guest.Close()
	}()
	return NewClient(host)
}
