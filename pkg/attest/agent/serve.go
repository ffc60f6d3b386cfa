// Package agent is hardenvm-agent's logic, apart from its devices so tests
// run it against swtpm: it holds the TPM's EK and AK and answers
// agentproto requests (identity, credential activation, quote).
package agent

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hardenvm/hardenvm/pkg/attest/agentproto"
)

// Logs are where the evidence's logs are read from.
type Logs struct {
	Firmware string // the TCG event log (binary_bios_measurements)
	PCR15    string // hardenvm-init's log (boot/measure.LogPath)
}

// Serve answers requests read from rw until it reads EOF (nil) or fails.
func (k *Keys) Serve(rw io.ReadWriter, logs Logs, log func(string, ...any)) error {
	r := bufio.NewReaderSize(rw, 64<<10)
	for {
		line, err := readLine(r)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		var req agentproto.Request
		var resp agentproto.Response
		if err := json.Unmarshal(line, &req); err != nil {
			resp.Error = fmt.Sprintf("bad request: %v", err)
		} else {
			resp = k.handle(req, logs, log)
		}
		b, err := json.Marshal(resp)
		if err != nil {
			return err
		}
		if _, err := rw.Write(append(b, '\n')); err != nil {
			return err
		}
	}
}

func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			return nil, err
		}
		line = append(line, chunk...)
		if len(line) > agentproto.MaxLine {
			return nil, fmt.Errorf("request longer than %d bytes", agentproto.MaxLine)
		}
		if !isPrefix {
			return line, nil
		}
	}
}

func (k *Keys) handle(req agentproto.Request, logs Logs, log func(string, ...any)) agentproto.Response {
	switch req.Op {
	case agentproto.OpPing:
		if len(req.Nonce) > 64 {
			return agentproto.Response{Error: "the nonce must be at most 64 bytes"}
		}
		return agentproto.Response{Pong: req.Nonce}
	case agentproto.OpIdentity:
		return agentproto.Response{Identity: k.identity()}
	case agentproto.OpActivate:
		c, err := k.activate(req.CredentialBlob, req.Secret)
		if err != nil {
			return agentproto.Response{Error: err.Error()}
		}
		return agentproto.Response{Credential: c}
	case agentproto.OpQuote:
		if len(req.Nonce) < 16 || len(req.Nonce) > 64 {
			return agentproto.Response{Error: "the nonce must be 16 to 64 bytes"}
		}
		ev, err := k.evidence(req.Nonce, logs, log)
		if err != nil {
			return agentproto.Response{Error: err.Error()}
		}
		return agentproto.Response{Evidence: ev}
	}
	return agentproto.Response{Error: fmt.Sprintf("unknown op %q", req.Op)}
}

func (k *Keys) identity() *agentproto.Identity {
	return &agentproto.Identity{EKPublic: k.ekPublic, EKCert: k.ekCert, AKPublic: k.akPublic}
}

func (k *Keys) evidence(nonce []byte, logs Logs, log func(string, ...any)) (*agentproto.Evidence, error) {
	q, sig, pcrs, err := k.quote(nonce)
	if err != nil {
		return nil, err
	}
	ev := &agentproto.Evidence{Identity: *k.identity(), Quote: q, Signature: sig, PCRs: pcrs}
	// A missing log is sent empty: the verifier then fails the PCRs it
	// would explain, naming the log.
	if ev.EventLog, err = os.ReadFile(logs.Firmware); err != nil {
		log("%v", err)
	}
	if ev.PCR15Log, err = os.ReadFile(logs.PCR15); err != nil {
		log("%v", err)
	}
	return ev, nil
}
