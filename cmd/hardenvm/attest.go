package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/pkg/attest"
	"github.com/hardenvm/hardenvm/pkg/attest/agentproto"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/pcr"
	"github.com/hardenvm/hardenvm/pkg/vm"
)

func init() { register(newAttestCmd) }

// savedEvidence is the --save/--quote file.
type savedEvidence struct {
	Nonce    []byte               `json:"nonce"`
	Evidence *agentproto.Evidence `json:"evidence"`
}

func newAttestCmd(a *app) *cobra.Command {
	var socket, quoteFile, nonceHex, save, golden, record, firmware string
	cmd := &cobra.Command{
		Use:   "attest DIR (--vm SOCKET | --quote FILE --nonce HEX)",
		Short: "Verify a VM's TPM quote and event logs against the image's predicted PCRs",
		Long: `attest asks the guest agent (hardenvm-agent, on the virtio-serial channel
org.hardenvm.agent whose host end is SOCKET) for its TPM identity, binds its
attestation key to the TPM's endorsement key by credential activation, and
has it quote PCRs 0-15 over a fresh nonce, with the firmware event log and
hardenvm-init's PCR 15 log. Then it checks, one line each:

  AK, AK bound to EK, EK certificate   the keys (the EK certificate's issuer is
                                       shown, not checked against a CA)
  quote                  signature, magic 0xff544347, type 0x8018, nonce, PCR digest
  firmware event log     parses and replays to the quoted PCRs
  PCR 15 log             hardenvm-init's log replays to the quoted PCR 15
  PCR 4, 5, 7, 9, 11, 15 equal to manifest.json's prediction; if not, the first
                         event that differs and what it means ("UKI differs",
                         "db changed", "cmdline differs", "root differs"). PCR 5
                         may also show the data partition added on the first boot
  PCR 0-3, 6             equal to golden values recorded for this firmware (in
                         manifest.json, or --golden FILE)
  PCR 8, 12, 13, 14      zero

--quote FILE checks evidence saved earlier with --save; --nonce is the
nonce the verifier expects (evidence answering another nonce fails: a
replayed quote). --record-golden FILE stores the firmware PCRs of a boot
that passes everything else, keyed by the SHA-256 of the firmware code
(--firmware); --golden FILE checks them. DIR's manifest is trusted as it
is: check it first with 'hardenvm verify'. Exit 1 names each failed check.`,
		Example: `  hardenvm run out/minimal --state st --channel org.hardenvm.agent &
  hardenvm attest out/minimal --vm st/chan-org.hardenvm.agent.sock
  hardenvm attest out/minimal --vm SOCKET --save evidence.json --record-golden golden.json
  hardenvm attest out/minimal --quote evidence.json --nonce 5f3c... --golden golden.json --json`,
		Args: exactArgs("DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (socket == "") == (quoteFile == "") {
				return usagef("attest: give exactly one of --vm SOCKET or --quote FILE")
			}
			if quoteFile != "" && nonceHex == "" {
				return usagef("attest: --quote needs --nonce, the nonce this verifier expects the quote to answer")
			}
			m, err := manifest.Load(args[0])
			if err != nil {
				return err
			}
			exp := attest.Expect{PCRs: m.PCRs}
			var ev *agentproto.Evidence
			if socket != "" {
				c, err := attest.Dial(cmd.Context(), socket)
				if err != nil {
					return err
				}
				defer c.Close()
				s, err := c.Collect()
				if err != nil {
					return err
				}
				exp.Nonce, exp.AKBound, ev = s.Nonce, true, s.Evidence
				if save != "" {
					b, _ := json.MarshalIndent(savedEvidence{Nonce: s.Nonce, Evidence: ev}, "", "  ")
					if err := atomicfile.WriteFile(save, append(b, '\n'), 0o644); err != nil {
						return err
					}
				}
			} else {
				if exp.Nonce, err = hex.DecodeString(nonceHex); err != nil || len(exp.Nonce) == 0 {
					return usagef("attest: --nonce %q is not hex", nonceHex)
				}
				s, err := readSaved(quoteFile)
				if err != nil {
					return err
				}
				ev = s.Evidence
			}
			fwKey, err := fileDigest(firmware)
			if err != nil && (golden != "" || record != "") {
				return fmt.Errorf("attest: firmware %s: %w", firmware, err)
			}
			if m.PCRs != nil && m.PCRs.Firmware != nil {
				exp.Golden = m.PCRs.Firmware[fwKey]
			}
			if golden != "" {
				g, err := pcr.ReadGolden(golden)
				if err != nil {
					return err
				}
				if v, ok := g[fwKey]; ok {
					exp.Golden = v
				}
			}
			r := attest.Verify(ev, exp)
			if a.json {
				if err := a.printJSON(r); err != nil {
					return err
				}
			} else {
				printReport(a.stdout, r)
			}
			if record != "" {
				if err := attest.RecordGolden(record, fwKey, r); err != nil {
					return err
				}
				a.log.Info("recorded golden firmware PCRs", "file", record, "firmware", fwKey)
			}
			return r.Err()
		},
	}
	f := cmd.Flags()
	f.StringVar(&socket, "vm", "", "host socket of the VM's org.hardenvm.agent channel")
	f.StringVar(&quoteFile, "quote", "", "evidence saved by --save, instead of a live VM")
	f.StringVar(&nonceHex, "nonce", "", "with --quote: the nonce (hex) the evidence must answer")
	f.StringVar(&save, "save", "", "write the evidence and its nonce to this file")
	f.StringVar(&golden, "golden", "", "golden firmware PCRs (written by --record-golden)")
	f.StringVar(&record, "record-golden", "", "store this boot's firmware PCRs (0-3, 6) into this file when everything else passes")
	f.StringVar(&firmware, "firmware", vm.OVMFCodeSecureBoot, "the firmware code image the VM ran (keys golden values)")
	return cmd
}

func readSaved(path string) (*savedEvidence, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("attest: %w", err)
	}
	var s savedEvidence
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

func printReport(w io.Writer, r *attest.Report) {
	for _, c := range r.Checks {
		status := "ok  "
		switch {
		case c.Note:
			status = "note"
		case !c.OK:
			status = "FAIL"
		}
		fmt.Fprintf(w, "%s  %-20s %s\n", status, c.Name, c.Detail)
	}
}
