package attest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/pkg/attest/agentproto"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/pcr"
)

// Options say where the evidence comes from — a live VM's agent (Socket)
// or evidence saved earlier (Saved, with the Nonce this verifier expects it
// to answer) — and which golden firmware values it is checked with.
type Options struct {
	Socket string // host socket of the VM's org.hardenvm.agent channel
	Saved  string // evidence written by Save
	Nonce  []byte // with Saved: the nonce the evidence must answer
	Save   string // write the evidence collected from Socket (and its nonce) here
	// Golden names a golden-values file (ReadGolden) whose entry for
	// Firmware overrides the manifest's; Record stores this boot's
	// firmware PCRs into one (RecordGolden). Firmware is the firmware
	// code image the VM ran.
	Golden, Record, Firmware string
	Log                      *slog.Logger
}

// saved is the file Save writes.
type saved struct {
	Nonce    []byte               `json:"nonce"`
	Evidence *agentproto.Evidence `json:"evidence"`
}

// Attest collects or reads the evidence o names and verifies it against
// the image's prediction pcrs (its manifest's, trusted as given: verify
// the image directory first). With o.Record, a result that passed
// everything but the firmware PCRs is recorded as golden values; an error
// doing so is returned with the result.
func Attest(ctx context.Context, pcrs *manifest.PCRs, o Options) (*Result, error) {
	exp := Expect{PCRs: pcrs, Nonce: o.Nonce}
	var ev *agentproto.Evidence
	if o.Socket != "" {
		c, err := Dial(ctx, o.Socket)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		s, err := c.Collect()
		if err != nil {
			return nil, err
		}
		exp.Nonce, exp.AKBound, ev = s.Nonce, true, s.Evidence
		if o.Save != "" {
			b, _ := json.MarshalIndent(saved{Nonce: s.Nonce, Evidence: ev}, "", "  ")
			if err := atomicfile.WriteFile(o.Save, append(b, '\n'), 0o644); err != nil {
				return nil, err
			}
		}
	} else {
		s, err := readSaved(o.Saved)
		if err != nil {
			return nil, err
		}
		ev = s.Evidence
	}
	fw, err := fileDigest(o.Firmware)
	if err != nil && (o.Golden != "" || o.Record != "") {
		return nil, fmt.Errorf("attest: firmware %s: %w", o.Firmware, err)
	}
	if pcrs != nil && pcrs.Firmware != nil {
		exp.Golden = pcrs.Firmware[fw]
	}
	if o.Golden != "" {
		g, err := pcr.ReadGolden(o.Golden)
		if err != nil {
			return nil, err
		}
		if v, ok := g[fw]; ok {
			exp.Golden = v
		}
	}
	r := Verify(ev, exp)
	if o.Record != "" {
		if err := RecordGolden(o.Record, fw, r); err != nil {
			return r, err
		}
		if o.Log != nil {
			o.Log.Info("recorded golden firmware PCRs", "file", o.Record, "firmware", fw)
		}
	}
	return r, nil
}

func readSaved(path string) (*saved, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("attest: %w", err)
	}
	var s saved
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("attest: %s: not saved evidence: %w", path, err)
	}
	if s.Evidence == nil {
		return nil, fmt.Errorf("attest: %s: no evidence in it", path)
	}
	return &s, nil
}

func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
