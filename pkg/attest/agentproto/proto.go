// Package agentproto is the wire protocol between a verifier on the host
// and hardenvm-agent in the guest, over a virtio-serial channel: one JSON
// object per line each way, one response per request.
//
//	{"op":"identity"}                               → {"identity":{…}}
//	{"op":"activate","credentialBlob":…,"secret":…} → {"credential":…}
//	{"op":"quote","nonce":…}                        → {"evidence":{…}}
//
// Byte fields are base64 (encoding/json's []byte). A failed request gets
// {"error":"…"}. Nothing in a response is trusted by itself: the verifier
// checks the quote's signature with an AK it bound to the EK by credential
// activation, and replays the logs against the quoted PCRs.
package agentproto

// ChannelName is the virtio-serial port name (vm.Config.Channels).
const ChannelName = "org.hardenvm.agent"

// MaxLine bounds one message (the firmware event log is tens of KiB).
const MaxLine = 4 << 20

// Operations.
const (
	OpIdentity = "identity"
	OpActivate = "activate"
	OpQuote    = "quote"
	// OpPing is answered at once with the request's nonce in Pong: the
	// verifier learns within seconds whether an agent is there at all,
	// and skips answers to requests of an earlier connection. Agents
	// older than it answer with an "unknown op" error, which says the
	// same.
	OpPing = "ping"
)

// Request is one line from the verifier.
type Request struct {
	Op             string `json:"op"`
	Nonce          []byte `json:"nonce,omitempty"`
	CredentialBlob []byte `json:"credentialBlob,omitempty"`
	Secret         []byte `json:"secret,omitempty"`
}

// Response is one line from the agent.
type Response struct {
	Error      string    `json:"error,omitempty"`
	Identity   *Identity `json:"identity,omitempty"`
	Credential []byte    `json:"credential,omitempty"`
	Evidence   *Evidence `json:"evidence,omitempty"`
	Pong       []byte    `json:"pong,omitempty"`
}

// Identity names the TPM's keys.
type Identity struct {
	EKPublic []byte `json:"ekPublic"` // TPMT_PUBLIC
	EKCert   []byte `json:"ekCert,omitempty"`
	AKPublic []byte `json:"akPublic"` // TPMT_PUBLIC
}

// Evidence answers a nonce. Saved to a file with the identity, it can be
// checked again offline (hardenvm attest --quote).
type Evidence struct {
	Identity
	Quote     []byte   `json:"quote"`     // TPMS_ATTEST, as signed
	Signature []byte   `json:"signature"` // TPMT_SIGNATURE
	PCRs      [][]byte `json:"pcrs"`      // SHA-256 bank, PCRs 0–15
	EventLog  []byte   `json:"eventLog"`  // binary_bios_measurements
	PCR15Log  []byte   `json:"pcr15Log"`  // hardenvm-init's log
}
