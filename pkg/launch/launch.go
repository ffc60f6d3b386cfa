// Package launch boots a built image directory as a VM under QEMU (or a
// bare kernel and initrd), the way `hardenvm run` does: it verifies the
// image first, keeps the VM's state in a state directory (a copy of the
// firmware variable store, the TPM, the serial log, the data disk), serves
// the guest's container engine on the host (STATE/docker.sock, a docker
// context, the ports containers publish), shares host directories, and
// shuts an image's VM down in order on a timeout or an interrupt.
//
// Options holds what the person asked for, as given; Check finds every
// mistake in it before anything is made on disk, and Run does the rest.
package launch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hardenvm/hardenvm/pkg/attest/agentproto"
	"github.com/hardenvm/hardenvm/pkg/enginesock"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/vm"
)

// Options describe one boot: an image directory (Dir) or a bare kernel
// (Kernel), and how to run it. The string fields hold flag values as the
// person gave them; Check reads them.
type Options struct {
	Dir                    string // a built image directory
	Kernel, Initrd, Append string // or a kernel, its initramfs and command line
	Firmware               string // UEFI firmware code for image boots; the image architecture's when empty
	// DiskFormat is which of the image's disk files QEMU boots: raw
	// (disk.raw, when empty), qcow2 or vhdx (disk.qcow2, disk.vhdx: the
	// manifest must list it, so verification covers it).
	DiskFormat string
	// State is the state directory (sockets, TPM state, serial log, data
	// disk); a new temporary one when empty.
	State string
	Accel string // auto, kvm or tcg
	// MemoryMiB and CPUs size the VM.
	MemoryMiB, CPUs int
	NoTPM           bool
	// Network is nat, restricted (only Forwards) or none; when empty, nat
	// for an image, restricted for a kernel with Forwards, else none.
	Network  string
	Forwards []string // HOST:GUEST TCP ports on 127.0.0.1
	// Channels are virtio-serial channels; an image gets the attestation
	// agent's and the engine's when empty.
	Channels []string
	Shares   []string // host directories the image's guest mounts at the same path
	// DataSize is the size of the data disk an image boot creates on first
	// use ("64G"; K, M, G, T suffixes).
	DataSize      string
	DockerContext string // a docker CLI context to write for the engine socket
	// Expect ends the run with success once the console prints a match
	// of this regular expression.
	Expect  string
	Timeout time.Duration // 0: no limit
	// InsecureSkipVerify boots an image without verifying it (refused for
	// a locked image). Otherwise Trust gives the anchors to verify it with.
	InsecureSkipVerify bool
	Trust              func() (imagedir.Trust, error)

	Stdin  io.Reader // forwarded to the console when not nil
	Stdout io.Writer // the serial console
	Stderr io.Writer // what the person needs to know (the engine socket, warnings)
	Log    *slog.Logger
}

// shutdownTimeout bounds an orderly shutdown: the init gives each service
// 10 s, then unmounts the data disk.
const shutdownTimeout = 30 * time.Second

// Run boots the VM o describes and returns when it ends: with nil when it
// powers off cleanly or the console matched Expect, with an error that
// says why otherwise (a timeout or interrupt included).
func Run(ctx context.Context, o Options) error {
	p, err := o.plan()
	if err != nil {
		return err
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Dir != "" {
		if err := imagedir.CheckImageDir(o.Dir); err != nil {
			return err
		}
		if err := o.verify(ctx); err != nil {
			return err
		}
	}
	if o.State == "" {
		if o.State, err = os.MkdirTemp("", "hardenvm-run-"); err != nil {
			return fmt.Errorf("run: state directory: %w", err)
		}
	} else if err := os.MkdirAll(o.State, 0o700); err != nil {
		return fmt.Errorf("run: state directory: %w", err)
	}
	if o.Dir != "" && len(o.Channels) == 0 {
		// Images run the attestation agent: give it its channel, so
		// `hardenvm attest DIR --vm STATE/chan-org.hardenvm.agent.sock`
		// works without extra flags; and the engine's, which run serves
		// on the host as STATE/docker.sock.
		o.Channels = []string{agentproto.ChannelName, enginesock.ChannelName}
	}
	cfg := vm.Config{
		Accel: p.accel, MemoryMiB: o.MemoryMiB, CPUs: o.CPUs,
		Kernel: o.Kernel, Initrd: o.Initrd, StateDir: o.State,
		TPM: !o.NoTPM, Channels: o.Channels, Net: p.network, Log: o.Log,
	}
	if o.Kernel != "" {
		cfg.Append = o.Append
	}
	if o.Dir != "" {
		unhardened, err := imageConfig(&cfg, o.Dir, o.Firmware, o.DiskFormat)
		if err != nil {
			return err
		}
		if unhardened {
			fmt.Fprintf(o.Stderr, "hardenvm: WARNING: %s is an UNHARDENED benchmark image: booting it without Secure Boot, TPM, dm-verity or a verified config\n", o.Dir)
		}
		if err := dataDisk(o.Log, &cfg, p.dataSize); err != nil {
			return err
		}
		if err := shareDirs(ctx, &cfg, filepath.Join(o.Dir, imagedir.Disk), o.Shares); err != nil {
			return err
		}
	}
	cause := errors.New("interrupted")
	runCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	go func() {
		select {
		case <-ctx.Done():
			cancel(cause)
		case <-runCtx.Done():
		}
	}()
	if o.Timeout > 0 {
		var stop context.CancelFunc
		runCtx, stop = context.WithTimeoutCause(runCtx, o.Timeout, fmt.Errorf("timed out after %v", o.Timeout))
		defer stop()
	}
	// An image's init shuts down in order on the power button (the data
	// disk stays clean), so an interrupted or timed-out image boot gets
	// the button first; the VM then outlives runCtx until it powers off
	// or shutdownTimeout passes. A bare kernel is stopped at once.
	vmCtx := runCtx
	if o.Dir != "" {
		vmCtx = context.WithoutCancel(runCtx)
	}
	m, err := vm.Start(vmCtx, cfg, o.Stdout)
	if err != nil {
		return err
	}
	defer m.Stop()
	o.Log.Info("VM started", "accel", m.Accel, "state", o.State, "serial_log", m.Config().SerialLog)
	if slices.Contains(cfg.Channels, enginesock.ChannelName) {
		if err := serveEngine(runCtx, o, m); err != nil {
			return err
		}
	}
	if o.Stdin != nil {
		go forwardStdin(o.Stdin, m.Console())
	}
	if p.expect != nil {
		if _, err := m.Console().Expect(runCtx, p.expect); err != nil {
			return fmt.Errorf("run: %w", err)
		}
		o.Log.Info("console matched --expect; stopping the VM", "pattern", o.Expect)
		return nil
	}
	select {
	case <-m.Done():
		return m.Wait()
	case <-runCtx.Done():
		if o.Dir != "" {
			o.Log.Info("shutting the VM down (power button)", "reason", context.Cause(runCtx))
			if err := m.Shutdown(shutdownTimeout); err != nil {
				o.Log.Warn("stopped the VM", "reason", err)
			}
		}
		m.Stop()
		return fmt.Errorf("run: VM stopped: %v (serial log %s)", context.Cause(runCtx), m.Config().SerialLog)
	}
}

// verify refuses an image directory that does not verify, unless
// verification is skipped on purpose for an image that is not locked. The
// lock flag is read from the manifest before it is verified: tampering with
// it can only make run refuse InsecureSkipVerify.
func (o *Options) verify(ctx context.Context) error {
	if o.InsecureSkipVerify {
		m, err := imagedir.Load(o.Dir)
		if err == nil && m.Locked {
			return fmt.Errorf("run: %s is a locked image (%s: \"locked\": true): it must be verified before it boots; drop --insecure-skip-verify", o.Dir, imagedir.Manifest)
		}
		fmt.Fprintf(o.Stderr, "hardenvm: WARNING: --insecure-skip-verify: booting %s WITHOUT checking its signature, artifact digests, verity tree or UKI signature\n", o.Dir)
		o.Log.Warn("image not verified", "dir", o.Dir)
		return nil
	}
	vo, err := o.Trust()
	if err != nil {
		return fmt.Errorf("run: %s: cannot verify the image (use --insecure-skip-verify to boot it unverified): %w", o.Dir, err)
	}
	r, err := imagedir.Verify(ctx, o.Dir, vo)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	for _, c := range r.Checks {
		o.Log.Info("verify", "check", c.Name, "artifact", c.Artifact, "status", c.Status, "detail", c.Detail)
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("run: refusing to boot: %w", err)
	}
	o.Log.Info("image verified", "dir", o.Dir)
	return nil
}

func forwardStdin(in io.Reader, c *vm.Console) {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if c.Send(sc.Text()) != nil {
			return
		}
	}
}
