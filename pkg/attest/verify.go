package attest

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-eventlog/register"
	"github.com/google/go-eventlog/tcg"

	"github.com/hardenvm/hardenvm/boot/measure"
	"github.com/hardenvm/hardenvm/pkg/attest/agentproto"
	"github.com/hardenvm/hardenvm/pkg/checklist"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/pcr"
)

// Result is the outcome of Verify: a check per key, log and PCR.
type Result struct {
	*checklist.Report
	// Golden are the firmware PCRs (0–3, 5, 6) of the verified quote, for
	// --record-golden. Empty when the quote did not verify.
	Golden map[string]string `json:"golden,omitempty"`
}

// add records a check that passed with detail ok, or failed with err.
func (r *Result) add(name string, err error, ok string) { r.Result(name, "", err, ok) }

// note records a check that informs without passing or failing.
func (r *Result) note(name, detail string) { r.Add(name, "", checklist.Skip, detail) }

// Expect is what the evidence is checked against.
type Expect struct {
	Nonce []byte         // the verifier's nonce for this quote
	PCRs  *manifest.PCRs // the image's prediction (its manifest)
	// Golden are recorded firmware PCR values (index → hex); nil when
	// none were recorded for this firmware.
	Golden map[string]string
	// AKBound says the AK was bound to the EK by credential activation
	// in this session (false for saved evidence).
	AKBound bool
}

// Verify checks evidence: the quote first (nothing else is trusted if it
// fails), then the firmware event log and hardenvm-init's log replayed
// against the quoted PCRs, then each predicted PCR event by event.
func Verify(ev *agentproto.Evidence, exp Expect) *Result {
	r := &Result{Report: &checklist.Report{OK: true}}
	if exp.PCRs == nil {
		r.add("manifest", errors.New("the manifest has no PCR prediction: rebuild the image"), "")
		return r
	}
	ak, name, err := ParseAK(ev.AKPublic)
	r.add("AK", err, "restricted ECDSA P-256 signing key fixed to its TPM")
	if err != nil {
		return r
	}
	if exp.AKBound {
		r.add("AK bound to EK", nil, "credential activation succeeded in this session")
	} else {
		r.note("AK bound to EK", "not checked: saved evidence (the AK is trusted as given)")
	}
	if len(ev.EKCert) > 0 {
		c, err := CheckEKCert(ev.EKPublic, ev.EKCert)
		if err == nil {
			r.add("EK certificate", nil, fmt.Sprintf("certifies the EK; issuer %q (not checked against a CA)", c.Issuer.CommonName))
		} else {
			r.add("EK certificate", err, "")
		}
	} else {
		r.note("EK certificate", "the TPM has none")
	}
	q, err := VerifyQuote(ak, name, ev.Quote, ev.Signature, exp.Nonce, ev.PCRs)
	if err != nil {
		err = errors.New(strings.TrimPrefix(err.Error(), ErrQuote.Error()+": "))
	}
	r.add("quote", err, "signature, magic 0xff544347, type 0x8018, nonce and PCR digest verified")
	if err != nil {
		return r
	}
	quoted := func(i int) string { return hex.EncodeToString(q.PCRs[i]) }

	// The firmware log, replayed against the quote.
	fw, err := replayFirmwareLog(ev.EventLog, q.PCRs)
	r.add("firmware event log", err, fmt.Sprintf("%d events replay to the quoted PCRs", len(fw)))
	pcr15, err15 := measure.ParseLog(bytes.NewReader(ev.PCR15Log))
	if err15 == nil && len(pcr15) == 0 {
		err15 = errors.New("empty: hardenvm-init wrote no PCR 15 events")
	}
	if err15 == nil {
		if v := measure.Replay(pcr15); !bytes.Equal(v[:], q.PCRs[15]) {
			err15 = fmt.Errorf("replays to %x but the quote has PCR 15 = %s: something else extended PCR 15", v, quoted(15))
		}
	}
	r.add("PCR 15 log", err15, fmt.Sprintf("%d events replay to the quoted PCR 15", len(pcr15)))

	// Each predicted PCR, event by event.
	for _, i := range pcr.Predicted {
		want, predicted := exp.PCRs.Values[strconv.Itoa(i)]
		if !predicted {
			r.note("PCR "+strconv.Itoa(i), "not predicted by this manifest (built by an older hardenvm)")
			continue
		}
		var got []logEvent
		var logErr error
		if i == 15 {
			logErr = err15
			for _, e := range pcr15 {
				d := e.Digest()
				got = append(got, logEvent{typ: "hardenvm", digest: d[:], data: e.Data})
			}
		} else {
			logErr = err
			for _, e := range fw {
				if e.Index == i {
					got = append(got, logEvent{typ: eventTypeName(e.Type), digest: e.Digest, raw: e.Data})
				}
			}
		}
		name := "PCR " + strconv.Itoa(i)
		switch {
		case quoted(i) == want:
			r.add(name, nil, "as predicted")
		case i == 5 && logErr == nil && exp.PCRs.GPT != "":
			r.add(name, grownDisk(quoted(i), want, got, exp.PCRs), "the GPT as built plus the data partition hardenvm-init adds on the first boot")
		case logErr != nil:
			r.add(name, fmt.Errorf("is %s, predicted %s; the log cannot say why (%v)", quoted(i), want, logErr), "")
		default:
			r.add(name, explain(i, quoted(i), want, got, exp.PCRs.Events), "")
		}
	}

	// The firmware's own PCRs against golden values.
	r.Golden = map[string]string{}
	for _, i := range pcr.FirmwarePCRs {
		k := strconv.Itoa(i)
		r.Golden[k] = quoted(i)
		name := "PCR " + k
		switch g, ok := exp.Golden[k]; {
		case !ok:
			r.note(name, "firmware PCR, no golden value recorded for this firmware (hardenvm attest --record-golden)")
		case g == quoted(i):
			r.add(name, nil, "as recorded for this firmware")
		default:
			r.add(name, fmt.Errorf("is %s, recorded %s: %s", quoted(i), g, firmwareMeaning(i)), "")
		}
	}
	// PCRs nothing in a hardenvm boot extends.
	zero := make([]byte, 32)
	for _, i := range []int{8, 12, 13, 14} {
		name := "PCR " + strconv.Itoa(i)
		if bytes.Equal(q.PCRs[i], zero) {
			r.add(name, nil, "zero, as nothing measures into it")
		} else {
			r.add(name, fmt.Errorf("is %s, want zero: %s", quoted(i), unusedMeaning(i)), "")
		}
	}
	r.note("PCR 10", "IMA (the kernel's runtime measurements): not evaluated")
	return r
}

type logEvent struct {
	typ    string
	digest []byte
	data   string // hardenvm-init's event, shown when it differs
	raw    []byte // the firmware event's data (verified only where noted)
}

// grownDisk accepts a PCR 5 whose only difference from the prediction is
// the GPT event, when the logged GPT is the built one plus the data
// partition. The GPT event's data is checked against its digest: the
// digest is what the replay verified.
func grownDisk(got, want string, log []logEvent, p *manifest.PCRs) error {
	built, err := hex.DecodeString(p.GPT)
	if err != nil {
		return fmt.Errorf("the manifest's gptEvent is not hex")
	}
	builtDigest := sha256.Sum256(built)
	var pred []manifest.PCREvent
	for _, e := range p.Events {
		if e.PCR == 5 {
			pred = append(pred, e)
		}
	}
	if len(pred) != len(log) {
		return explain(5, got, want, log, p.Events)
	}
	for j, e := range pred {
		if e.SHA256 == hex.EncodeToString(log[j].digest) {
			continue
		}
		if e.SHA256 != hex.EncodeToString(builtDigest[:]) {
			return explain(5, got, want, log, p.Events)
		}
		if d := sha256.Sum256(log[j].raw); !bytes.Equal(d[:], log[j].digest) {
			return fmt.Errorf("is %s, predicted %s: the logged GPT event's data does not match its digest", got, want)
		}
		if err := gptGrown(built, log[j].raw); err != nil {
			return fmt.Errorf("is %s, predicted %s: the disk's partition table differs: %v", got, want, err)
		}
	}
	return nil
}

// explain names the first event where the log departs from the
// prediction, with what the predicted event stands for.
func explain(pcr int, got, want string, log []logEvent, predicted []manifest.PCREvent) error {
	var pred []manifest.PCREvent
	for _, e := range predicted {
		if e.PCR == pcr {
			pred = append(pred, e)
		}
	}
	for j := 0; j < max(len(pred), len(log)); j++ {
		switch {
		case j >= len(log):
			return fmt.Errorf("is %s, predicted %s: event %d (%s, %s) is missing from the log: %s", got, want, j+1, pred[j].Type, pred[j].SHA256, pred[j].What)
		case j >= len(pred):
			return fmt.Errorf("is %s, predicted %s: unexpected event %d (%s, %x)%s", got, want, j+1, log[j].typ, log[j].digest, dataNote(log[j]))
		case pred[j].SHA256 != hex.EncodeToString(log[j].digest):
			return fmt.Errorf("is %s, predicted %s: event %d (%s) is %x, predicted %s: %s%s", got, want, j+1, pred[j].Type, log[j].digest, pred[j].SHA256, pred[j].What, dataNote(log[j]))
		}
	}
	return fmt.Errorf("is %s, predicted %s, though every logged event is as predicted", got, want)
}

func dataNote(e logEvent) string {
	if e.data == "" {
		return ""
	}
	return fmt.Sprintf(" (logged %q)", e.data)
}

// replayFirmwareLog parses the TCG log and replays it against the quoted
// PCRs it has events for.
func replayFirmwareLog(b []byte, pcrs [][]byte) ([]tcg.Event, error) {
	if len(b) == 0 {
		return nil, errors.New("empty: the agent could not read binary_bios_measurements")
	}
	el, err := tcg.ParseEventLog(b, tcg.ParseOpts{})
	if err != nil {
		return nil, fmt.Errorf("garbled or truncated: %v", err)
	}
	if !slices.Contains(el.Algs, register.HashSHA256) {
		return nil, errors.New("the log has no SHA-256 digests")
	}
	seen := map[int]bool{}
	for _, e := range el.Events(register.HashSHA256) {
		if e.Index < 0 || e.Index >= len(pcrs) {
			return nil, fmt.Errorf("an event for PCR %d, outside the quoted PCRs 0–15", e.Index)
		}
		seen[e.Index] = true
	}
	var mrs []register.MR
	for i := range pcrs {
		if seen[i] {
			mrs = append(mrs, register.PCR{Index: i, Digest: pcrs[i], DigestAlg: crypto.SHA256})
		}
	}
	events, err := el.Verify(mrs)
	if err != nil {
		return nil, fmt.Errorf("does not replay to the quoted PCRs: %v", err)
	}
	return events, nil
}

func eventTypeName(t tcg.EventType) string {
	if _, ok := t.KnownName(); ok {
		return t.TCGString()
	}
	return fmt.Sprintf("%#x", uint32(t))
}

func firmwareMeaning(i int) string {
	switch i {
	case 0:
		return "firmware code differs"
	case 1:
		return "firmware configuration or boot order differs"
	case 2, 3:
		return "option ROMs differ"
	case 5:
		return "boot manager data (GPT, ExitBootServices) differs"
	case 6:
		return "platform manufacturer events differ"
	}
	return "differs"
}

func unusedMeaning(i int) string {
	switch i {
	case 12:
		return "systemd-stub measured a command line override, credentials or add-ons"
	case 13:
		return "systemd-stub measured system extensions"
	}
	return "something unexpected measured into it"
}
