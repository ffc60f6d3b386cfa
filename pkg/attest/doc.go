// Package attest checks a running VM's TPM evidence against the predicted
// measured boot of its hardenvm image.
//
// The prediction itself is package pcr's; Load and PredictDir read it from
// an image directory.
//
// Verification (Verify) trusts nothing the guest sends until the quote
// verifies: an AK bound to the EK by credential activation (Client.BindAK),
// the quote's signature, magic, type, nonce and PCR digest (VerifyQuote);
// then the firmware log (go-eventlog) and hardenvm-init's log replay
// against the quoted PCRs, and each predicted PCR is compared event by
// event. The guest side is package agent (cmd/hardenvm-agent), the wire
// protocol package agentproto.
package attest
