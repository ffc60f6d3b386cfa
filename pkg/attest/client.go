package attest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/hardenvm/hardenvm/pkg/attest/agentproto"
)

// Client talks to hardenvm-agent through the host end of its
// virtio-serial channel (a unix socket).
type Client struct {
	conn    net.Conn
	r       *bufio.Reader
	Timeout time.Duration // per request; 2 minutes when zero (TCG guests are slow)
}

// Dial connects to the agent's channel socket.
func Dial(ctx context.Context, socket string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, fmt.Errorf("attest: agent channel: %w", err)
	}
	return &Client{conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}, nil
}

// Close hangs up.
func (c *Client) Close() error { return c.conn.Close() }

func (c *Client) call(req agentproto.Request) (*agentproto.Response, error) {
	t := c.Timeout
	if t == 0 {
		t = 2 * time.Minute
	}
	c.conn.SetDeadline(time.Now().Add(t))
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := c.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("attest: agent: %s: %w", req.Op, err)
	}
	var line []byte
	for {
		chunk, err := c.r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > agentproto.MaxLine {
			return nil, fmt.Errorf("attest: agent: %s: answer longer than %d bytes", req.Op, agentproto.MaxLine)
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(line) > 0 {
			return nil, fmt.Errorf("attest: agent: %s: answer cut short after %d bytes: %w", req.Op, len(line), err)
		}
		return nil, fmt.Errorf("attest: agent: %s: no answer: %w", req.Op, err)
	}
	var resp agentproto.Response
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp); err != nil {
		return nil, fmt.Errorf("attest: agent: %s: garbled answer: %w", req.Op, err)
	}
	if resp.Error != "" {
		return nil, fmt.Errorf("attest: agent: %s: %s", req.Op, resp.Error)
	}
	return &resp, nil
}

// Identity asks for the EK and AK.
func (c *Client) Identity() (*agentproto.Identity, error) {
	r, err := c.call(agentproto.Request{Op: agentproto.OpIdentity})
	if err != nil {
		return nil, err
	}
	if r.Identity == nil {
		return nil, fmt.Errorf("attest: agent: identity: empty answer")
	}
	return r.Identity, nil
}

// Quote asks for evidence answering nonce.
func (c *Client) Quote(nonce []byte) (*agentproto.Evidence, error) {
	r, err := c.call(agentproto.Request{Op: agentproto.OpQuote, Nonce: nonce})
	if err != nil {
		return nil, err
	}
	if r.Evidence == nil {
		return nil, fmt.Errorf("attest: agent: quote: empty answer")
	}
	return r.Evidence, nil
}

// BindAK proves that the agent's AK lives in the TPM that holds its EK:
// a credential only that TPM can activate, for that AK only.
func (c *Client) BindAK(id *agentproto.Identity) error {
	_, name, err := ParseAK(id.AKPublic)
	if err != nil {
		return err
	}
	blob, enc, secret, err := Challenge(id.EKPublic, name)
	if err != nil {
		return err
	}
	r, err := c.call(agentproto.Request{Op: agentproto.OpActivate, CredentialBlob: blob, Secret: enc})
	if err != nil {
		return err
	}
	if !bytes.Equal(r.Credential, secret) {
		return fmt.Errorf("attest: credential activation returned another secret: the AK is not in the EK's TPM")
	}
	return nil
}

// NewNonce returns 32 random bytes.
func NewNonce() []byte {
	n := make([]byte, 32)
	if _, err := rand.Read(n); err != nil {
		panic(err)
	}
	return n
}

// Session is one exchange with a live agent.
type Session struct {
	Nonce    []byte
	Evidence *agentproto.Evidence
}

// Collect runs identity, AK binding and a quote of a fresh nonce. The
// evidence's AK is checked to be the one just bound.
func (c *Client) Collect() (*Session, error) {
	id, err := c.Identity()
	if err != nil {
		return nil, err
	}
	if err := c.BindAK(id); err != nil {
		return nil, err
	}
	nonce := NewNonce()
	ev, err := c.Quote(nonce)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(ev.AKPublic, id.AKPublic) || !bytes.Equal(ev.EKPublic, id.EKPublic) {
		return nil, fmt.Errorf("attest: the quote names another AK or EK than the one just bound")
	}
	return &Session{Nonce: nonce, Evidence: ev}, nil
}

// NewClient talks to an agent over conn (tests use an in-memory pipe).
func NewClient(conn net.Conn) *Client {
	return &Client{conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
}
