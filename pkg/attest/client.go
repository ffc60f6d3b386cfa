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
	"os"
	"strings"
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

// PingTimeout bounds Dial's wait for the agent's first answer.
var PingTimeout = 10 * time.Second

// Dial connects to the agent's channel socket and checks within
// PingTimeout that an agent answers there: a socket whose guest end
// nobody reads (an image without hardenvm-agent, a VM still booting)
// fails in seconds, not after a request's whole timeout.
func Dial(ctx context.Context, socket string) (*Client, error) {
	d := net.Dialer{Timeout: PingTimeout}
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, fmt.Errorf("attest: agent channel: %w", err)
	}
	c := &Client{conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
	if err := c.ping(ctx); err != nil {
		conn.Close()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("attest: no agent answered on %s within %v (does the image run hardenvm-agent?)", socket, PingTimeout)
		}
		return nil, fmt.Errorf("attest: no agent on %s: %w", socket, err)
	}
	return c, nil
}

// ping sends OpPing with a fresh nonce and reads answers until the one
// that echoes it (answers left over from an earlier connection's requests
// are skipped); an "unknown op" error from an older agent counts too.
func (c *Client) ping(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Now()) })
	defer stop()
	nonce := NewNonce()[:16]
	req := agentproto.Request{Op: agentproto.OpPing, Nonce: nonce}
	c.conn.SetDeadline(time.Now().Add(PingTimeout))
	if err := c.send(req); err != nil {
		return err
	}
	for {
		resp, err := c.receive(req.Op)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if bytes.Equal(resp.Pong, nonce) || strings.HasPrefix(resp.Error, "unknown op") {
			return nil
		}
	}
}

// Close hangs up.
func (c *Client) Close() error { return c.conn.Close() }

func (c *Client) call(req agentproto.Request) (*agentproto.Response, error) {
	t := c.Timeout
	if t == 0 {
		t = 2 * time.Minute
	}
	c.conn.SetDeadline(time.Now().Add(t))
	if err := c.send(req); err != nil {
		return nil, err
	}
	resp, err := c.receive(req.Op)
	if err != nil {
		return nil, err
	}
	if resp.Error != "" {
		return nil, fmt.Errorf("attest: agent: %s: %s", req.Op, resp.Error)
	}
	return resp, nil
}

func (c *Client) send(req agentproto.Request) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := c.conn.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("attest: agent: %s: %w", req.Op, err)
	}
	return nil
}

// receive reads one answer line.
func (c *Client) receive(op string) (*agentproto.Response, error) {
	var line []byte
	for {
		chunk, err := c.r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > agentproto.MaxLine {
			return nil, fmt.Errorf("attest: agent: %s: answer longer than %d bytes", op, agentproto.MaxLine)
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(line) > 0 {
			return nil, fmt.Errorf("attest: agent: %s: answer cut short after %d bytes: %w", op, len(line), err)
		}
		return nil, fmt.Errorf("attest: agent: %s: no answer: %w", op, err)
	}
	var resp agentproto.Response
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp); err != nil {
		return nil, fmt.Errorf("attest: agent: %s: garbled answer: %w", op, err)
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
