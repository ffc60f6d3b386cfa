package main

import (
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hardenvm/hardenvm/pkg/attest"
	"github.com/hardenvm/hardenvm/pkg/efivars"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
)

func init() { register(newAttestCmd) }

func newAttestCmd(a *app) *cobra.Command {
	var o attest.Options
	var nonceHex string
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
  PCR 4, 5, 7, 9, 11, 15 equal to the manifest's prediction; if not, the first
                         event that differs and what it means ("UKI differs",
                         "db changed", "cmdline differs", "root differs"). PCR 5
                         may also show the data partition added on the first boot
  PCR 0-3, 6             equal to golden values recorded for this firmware (in
                         the manifest, or --golden FILE)
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
			if (o.Socket == "") == (o.Saved == "") {
				return usagef("attest: give exactly one of --vm SOCKET or --quote FILE")
			}
			if o.Saved != "" && nonceHex == "" {
				return usagef("attest: --quote needs --nonce, the nonce this verifier expects the quote to answer")
			}
			var err error
			if o.Nonce, err = hex.DecodeString(nonceHex); o.Saved != "" && (err != nil || len(o.Nonce) == 0) {
				return usagef("attest: --nonce %q is not hex", nonceHex)
			}
			m, err := imagedir.Load(args[0])
			if err != nil {
				return err
			}
			if err := m.CheckHardened(); err != nil {
				return fmt.Errorf("attest: %s: %w", args[0], err)
			}
			o.Log = a.log
			if o.Firmware == "" {
				fw, err := efivars.FirmwareOf(m.Architecture())
				if err != nil {
					return err
				}
				o.Firmware = fw.Code
			}
			r, err := attest.Attest(cmd.Context(), m.PCRs, o)
			if r != nil {
				r.Dir = args[0]
				if perr := a.print(r, r.Print); perr != nil {
					return perr
				}
			}
			if err != nil {
				return err
			}
			return r.Err()
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Socket, "vm", "", "host socket of the VM's org.hardenvm.agent channel")
	f.StringVar(&o.Saved, "quote", "", "evidence saved by --save, instead of a live VM")
	f.StringVar(&nonceHex, "nonce", "", "with --quote: the nonce (hex) the evidence must answer")
	f.StringVar(&o.Save, "save", "", "write the evidence and its nonce to this file")
	f.StringVar(&o.Golden, "golden", "", "golden firmware PCRs (written by --record-golden)")
	f.StringVar(&o.Record, "record-golden", "", "store this boot's firmware PCRs (0-3, 6) into this file when everything else passes")
	f.StringVar(&o.Firmware, "firmware", "", "the firmware code image the VM ran (keys golden values; default: the image architecture's, "+efivars.OVMF.Code+" or "+efivars.AAVMF.Code+")")
	return cmd
}
