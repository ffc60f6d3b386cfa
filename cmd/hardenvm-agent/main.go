// Command hardenvm-agent is the guest's attestation agent, a stage-2
// service of hardenvm-init. It listens on the virtio-serial port
// org.hardenvm.agent and answers the verifier (hardenvm attest --vm): the
// TPM's EK (public and certificate) and AK, credential activation binding
// the AK to the EK, and for a nonce a TPM2 quote of PCRs 0–15 with the
// firmware event log and hardenvm-init's PCR 15 log (package
// pkg/attest/agent).
//
// It is built static (CGO_ENABLED=0) and put into the root file system by
// `hardenvm build --agent` at /usr/lib/hardenvm/hardenvm-agent; an image
// runs it by declaring it as a service (images/minimal.yml).
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/hardenvm/hardenvm/boot/measure"
	"github.com/hardenvm/hardenvm/pkg/attest/agent"
	"github.com/hardenvm/hardenvm/pkg/attest/agentproto"
	"github.com/hardenvm/hardenvm/pkg/vport"
)

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "hardenvm-agent: "+format+"\n", args...)
}

func main() {
	t, err := agent.OpenDevice()
	if err != nil {
		say("%v", err)
		os.Exit(1)
	}
	k, err := agent.LoadKeys(t, say)
	if err != nil {
		say("%v", err)
		os.Exit(1)
	}
	logs := agent.Logs{Firmware: "/sys/kernel/security/tpm0/binary_bios_measurements", PCR15: measure.LogPath}
	say("ready: EK and AK loaded")
	last := ""
	for {
		err := serve(k, logs)
		// Say each new trouble once: a VM without the channel must not
		// fill the console.
		if msg := fmt.Sprint(err); msg != last {
			say("%v", err)
			last = msg
		}
		time.Sleep(time.Second)
	}
}

// findPort returns the channel's device: the argument when given, else
// the port named like the agent's channel.
func findPort() (string, error) {
	if len(os.Args) > 1 {
		return os.Args[1], nil
	}
	return vport.Find(agentproto.ChannelName)
}

// serve opens the port and answers on it. The port stays open while the
// host end comes and goes (a read then returns EOF): a guest that closed
// its end would lose what the host sends meanwhile.
func serve(k *agent.Keys, logs agent.Logs) error {
	port, err := findPort()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(port, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for {
		if err := k.Serve(f, logs, say); err != nil {
			return fmt.Errorf("%s: %w", port, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
