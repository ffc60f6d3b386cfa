package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/pkg/attest/agentproto"
	"github.com/hardenvm/hardenvm/pkg/configimage"
	"github.com/hardenvm/hardenvm/pkg/dockercontext"
	"github.com/hardenvm/hardenvm/pkg/enginesock"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/portfwd"
	"github.com/hardenvm/hardenvm/pkg/vm"
)

func init() { register(newRunCmd) }

type runFlags struct {
	accel, kernel, initrd, appendLine, state, firmware, expect string
	timeout                                                    time.Duration
	memory, cpus                                               int
	dataSize, dockerContext, network                           string
	noTPM, noStdin                                             bool
	forwards, channels, shares                                 []string
	trust                                                      trustFlags
	insecureSkipVerify                                         bool
}

func newRunCmd(a *app) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [DIR]",
		Short: "Boot an image (or a kernel) under QEMU with OVMF Secure Boot and a TPM",
		Long: `run boots a built image directory (disk.raw and OVMF_VARS.fd) with OVMF
Secure Boot firmware, or a kernel and initrd directly (--kernel), with a
software TPM (swtpm). The serial console is attached to this terminal and
kept in the state directory's serial.log. On --timeout, Ctrl-C or SIGTERM
an image's VM gets the power button and shuts down in order (at most 30 s),
a bare kernel is stopped at once; swtpm goes with it.

An image boot is the engine host: its engine answers on the host at
STATE/docker.sock (0600; --docker-context NAME writes a docker context),
its state lives on STATE/data.raw across runs, and with --network nat (the
default) it reaches what the host reaches and the ports its containers
publish appear on the host's 127.0.0.1.

An image directory is verified first, as 'hardenvm verify' does (the
sigstore bundle, every artifact's digest, the verity tree, the UKI's
signature), with the same --key/--keys/--db-cert trust anchors; run refuses
to boot an image that fails. --insecure-skip-verify boots without checking,
with a warning, and is refused for an image whose manifest says it is
locked.

--share DIR shares a host directory with an image's VM through virtiofs
(one virtiofsd per directory, children of run): the guest mounts it at the
same path, so 'docker run -v DIR:/src' finds it, and files containers
create there belong to the user who runs hardenvm. The image's admin
settings (filesharingAllowedDirectories) may limit which directories.
virtiofsd needs to write /var/run/virtiofsd (root, in practice).

--accel auto probes that KVM really runs a guest (a bounded test boot) and
falls back to TCG software emulation when it does not.`,
		Example: `  hardenvm run out/minimal --keys keys
  hardenvm run out/minimal --key vendor-signing.pub
  hardenvm run --kernel vmlinuz --initrd initrd.img --append console=ttyS0 --timeout 2m
  hardenvm run out/minimal --expect 'login:' --timeout 5m --accel tcg
  hardenvm run out/desktop --state ~/.hardenvm --share "$PWD"   # then: docker run -v "$PWD":/src …`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := ""
			if len(args) == 1 {
				dir = args[0]
			}
			return runVM(cmd.Context(), a, dir, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.accel, "accel", "auto", "accelerator: auto, kvm or tcg")
	fl.StringVar(&f.kernel, "kernel", "", "boot this kernel directly instead of an image's disk")
	fl.StringVar(&f.initrd, "initrd", "", "initramfs for --kernel")
	fl.StringVar(&f.appendLine, "append", "console=ttyS0", "kernel command line for --kernel")
	fl.StringVar(&f.firmware, "firmware", vm.OVMFCodeSecureBoot, "UEFI firmware code for image boots")
	fl.StringVar(&f.state, "state", "", "state directory (sockets, TPM state, serial.log); a new temporary one when empty")
	fl.DurationVar(&f.timeout, "timeout", 0, "stop the VM after this long (0: no limit)")
	fl.StringVar(&f.expect, "expect", "", "succeed as soon as the console prints a match of this regular expression; fail if the VM ends first")
	fl.IntVar(&f.memory, "memory", 1024, "memory in MiB")
	fl.StringVar(&f.dockerContext, "docker-context", "", "create or update this docker CLI context for the VM's engine socket")
	fl.StringVar(&f.dataSize, "data-size", "64G", "size of the data disk an image boot creates in the state directory on first use (sparse; K, M, G, T suffixes)")
	fl.IntVar(&f.cpus, "cpus", 2, "virtual CPUs")
	fl.BoolVar(&f.noTPM, "no-tpm", false, "run without a TPM")
	fl.BoolVar(&f.noStdin, "no-stdin", false, "do not forward standard input to the console")
	fl.StringVar(&f.network, "network", "", "the VM's network: nat (image boots: the VM reaches what the host reaches, its loopback as 10.0.2.2, and published container ports appear on the host's 127.0.0.1), restricted (only --forward ports), none")
	fl.StringSliceVar(&f.forwards, "forward", nil, "expose guest TCP port GUEST on 127.0.0.1:HOST (HOST:GUEST, repeatable)")
	fl.StringArrayVar(&f.shares, "share", nil, "share host directory DIR with the VM at the same path, through virtiofs (repeatable; image boots; limited by the admin settings' filesharingAllowedDirectories)")
	fl.StringSliceVar(&f.channels, "channel", nil, "virtio-serial channel NAME, its socket STATE/chan-NAME.sock (repeatable; image boots default to the attestation agent's org.hardenvm.agent)")
	f.trust.register(fl)
	fl.BoolVar(&f.insecureSkipVerify, "insecure-skip-verify", false, "boot the image WITHOUT verifying it (refused for locked images)")
	return cmd
}

func runVM(ctx context.Context, a *app, dir string, f runFlags) error {
	accel, err := vm.ParseAccel(f.accel)
	if err != nil {
		return usageError{err}
	}
	if (dir == "") == (f.kernel == "") {
		return usagef("run: give an image directory or --kernel (not both); see 'hardenvm run --help'")
	}
	// Flags first: nothing is created before they are all understood.
	if dir == "" && len(f.shares) > 0 {
		return usagef("run: --share needs an image directory (its guest mounts the shares)")
	}
	dataSize, err := parseSize(f.dataSize)
	if err != nil {
		return usagef("run: --data-size %q: %v", f.dataSize, err)
	}
	var network *vm.Net
	if f.network == "" {
		switch {
		case dir != "":
			f.network = "nat"
		case len(f.forwards) > 0:
			f.network = "restricted"
		default:
			f.network = "none"
		}
	}
	switch f.network {
	case "nat":
		network = &vm.Net{NAT: true}
	case "restricted":
		network = &vm.Net{}
	case "none":
		if len(f.forwards) > 0 {
			return usagef("run: --forward needs a network; drop --network none")
		}
	default:
		return usagef("run: --network %q: want nat, restricted or none", f.network)
	}
	for _, s := range f.forwards {
		h, g, ok := strings.Cut(s, ":")
		hp, err1 := strconv.Atoi(h)
		gp, err2 := strconv.Atoi(g)
		if !ok || err1 != nil || err2 != nil {
			return usagef("run: --forward %q: want HOST:GUEST port numbers", s)
		}
		network.HostForwards = append(network.HostForwards, vm.HostForward{HostPort: hp, GuestPort: gp})
	}
	var expect *regexp.Regexp
	if f.expect != "" {
		if expect, err = regexp.Compile(f.expect); err != nil {
			return usagef("run: --expect: %v", err)
		}
	}
	if dir != "" {
		if err := imagedir.CheckImageDir(dir); err != nil {
			return err
		}
		if err := verifyBeforeRun(ctx, a, dir, f); err != nil {
			return err
		}
	}
	if f.state == "" {
		if f.state, err = os.MkdirTemp("", "hardenvm-run-"); err != nil {
			return fmt.Errorf("run: state directory: %w", err)
		}
	} else if err := os.MkdirAll(f.state, 0o700); err != nil {
		return fmt.Errorf("run: state directory: %w", err)
	}
	if dir != "" && len(f.channels) == 0 {
		// Images run the attestation agent: give it its channel, so
		// `hardenvm attest DIR --vm STATE/chan-org.hardenvm.agent.sock`
		// works without extra flags; and the engine's, which run serves
		// on the host as STATE/docker.sock.
		f.channels = []string{agentproto.ChannelName, enginesock.ChannelName}
	}
	cfg := vm.Config{
		Accel: accel, MemoryMiB: f.memory, CPUs: f.cpus,
		Kernel: f.kernel, Initrd: f.initrd, StateDir: f.state,
		TPM: !f.noTPM, Channels: f.channels, Net: network, Log: a.log,
	}
	if f.kernel != "" {
		cfg.Append = f.appendLine
	}
	if dir != "" {
		if err := imageConfig(&cfg, dir, f.firmware); err != nil {
			return err
		}
		if err := dataDisk(a, &cfg, dataSize); err != nil {
			return err
		}
		if err := shareDirs(ctx, &cfg, f.shares); err != nil {
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
	if f.timeout > 0 {
		var stop context.CancelFunc
		runCtx, stop = context.WithTimeoutCause(runCtx, f.timeout, fmt.Errorf("timed out after %v", f.timeout))
		defer stop()
	}
	// An image's init shuts down in order on the power button (the data
	// disk stays clean), so an interrupted or timed-out image boot gets
	// the button first; the VM then outlives runCtx until it powers off
	// or shutdownTimeout passes. A bare kernel is stopped at once.
	vmCtx := runCtx
	if dir != "" {
		vmCtx = context.WithoutCancel(runCtx)
	}
	m, err := vm.Start(vmCtx, cfg, a.stdout)
	if err != nil {
		return err
	}
	defer m.Stop()
	a.log.Info("VM started", "accel", m.Accel, "state", f.state, "serial_log", m.Config().SerialLog)
	if slices.Contains(cfg.Channels, enginesock.ChannelName) {
		if err := serveEngine(runCtx, a, m, f); err != nil {
			return err
		}
	}
	if !f.noStdin {
		go forwardStdin(os.Stdin, m.Console())
	}
	if expect != nil {
		if _, err := m.Console().Expect(runCtx, expect); err != nil {
			return fmt.Errorf("run: %w", err)
		}
		a.log.Info("console matched --expect; stopping the VM", "pattern", f.expect)
		return nil
	}
	select {
	case <-m.Done():
		return m.Wait()
	case <-runCtx.Done():
		if dir != "" {
			a.log.Info("shutting the VM down (power button)", "reason", context.Cause(runCtx))
			if err := m.Shutdown(shutdownTimeout); err != nil {
				a.log.Warn("stopped the VM", "reason", err)
			}
		}
		m.Stop()
		return fmt.Errorf("run: VM stopped: %v (serial log %s)", context.Cause(runCtx), m.Config().SerialLog)
	}
}

// verifyBeforeRun refuses an image directory that does not verify, unless
// verification is skipped on purpose for an image that is not locked. The
// lock flag is read from the manifest before it is verified: tampering with
// it can only make run refuse --insecure-skip-verify.
func verifyBeforeRun(ctx context.Context, a *app, dir string, f runFlags) error {
	if f.insecureSkipVerify {
		m, err := imagedir.Load(dir)
		if err == nil && m.Locked {
			return fmt.Errorf("run: %s is a locked image (manifest.json: \"locked\": true): it must be verified before it boots; drop --insecure-skip-verify", dir)
		}
		fmt.Fprintf(a.stderr, "hardenvm: WARNING: --insecure-skip-verify: booting %s WITHOUT checking its signature, artifact digests, verity tree or UKI signature\n", dir)
		a.log.Warn("image not verified", "dir", dir)
		return nil
	}
	o, err := f.trust.options()
	if err != nil {
		return fmt.Errorf("run: %s: cannot verify the image (use --insecure-skip-verify to boot it unverified): %w", dir, err)
	}
	r, err := imagedir.Verify(ctx, dir, o)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	for _, c := range r.Checks {
		a.log.Info("verify", "check", c.Name, "artifact", c.Artifact, "status", c.Status, "detail", c.Detail)
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("run: refusing to boot: %w", err)
	}
	a.log.Info("image verified", "dir", dir)
	return nil
}

// imageConfig points cfg at a built image directory. The variable store is
// copied into the state directory so the image stays as it was built.
func imageConfig(cfg *vm.Config, dir, firmware string) error {
	disk := filepath.Join(dir, "disk.raw")
	vars := filepath.Join(dir, "OVMF_VARS.fd")
	for _, p := range []string{disk, vars} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("run: %s: not an image directory (missing %s); build one with 'hardenvm build'", dir, filepath.Base(p))
		}
	}
	b, err := os.ReadFile(vars)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	cfg.FirmwareVars = filepath.Join(cfg.StateDir, "OVMF_VARS.fd")
	if err := atomicfile.WriteFile(cfg.FirmwareVars, b, 0o600); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	cfg.FirmwareCode = firmware
	// The OS disk is never written: its root and config are verified
	// read-only, and the VM's state lives on the data disk.
	cfg.Disks = []vm.Disk{{Path: disk, ReadOnly: true}}
	return nil
}

// serveEngine serves the VM's engine on the host at STATE/docker.sock,
// says how to use it (and writes the docker context asked for), and says
// "engine ready" once the guest init reports READY (which waits for the
// engine's /_ping).
func serveEngine(ctx context.Context, a *app, m *vm.Machine, f runFlags) error {
	sock, err := filepath.Abs(filepath.Join(f.state, engineSocketFile))
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	cfg := m.Config()
	h := &enginesock.Host{Listen: sock, Channel: cfg.ChannelPath(enginesock.ChannelName), Log: a.log}
	go func() {
		if err := h.Serve(ctx); err != nil {
			a.log.Error("engine socket", "err", err)
		}
	}()
	use := "DOCKER_HOST=unix://" + sock
	if f.dockerContext != "" {
		dir, err := dockercontext.ConfigDir()
		if err == nil {
			err = dockercontext.Write(dir, f.dockerContext, "unix://"+sock, "hardenvm VM ("+f.state+")")
		}
		if err != nil {
			return fmt.Errorf("run: %w", err)
		}
		use = "docker --context " + f.dockerContext + " (or " + use + ")"
	}
	fmt.Fprintf(a.stderr, "hardenvm: the engine answers on %s once the VM is ready: %s\n", sock, use)
	if cfg.Net != nil {
		// Ports containers publish (-p 8080:80) appear on the host's
		// 127.0.0.1 while they run.
		engine := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}}
		go (&portfwd.Publisher{Engine: engine, VM: m, Log: a.log}).Run(ctx)
	}
	go func() {
		if err := m.Console().Wait(ctx, "hardenvm-init: READY"); err == nil {
			fmt.Fprintf(a.stderr, "hardenvm: engine ready: %s\n", use)
		}
	}()
	return nil
}

// engineSocketFile is the engine's socket in the state directory.
const engineSocketFile = "docker.sock"

// shutdownTimeout bounds an orderly shutdown: the init gives each service
// 10 s, then unmounts the data disk.
const shutdownTimeout = 30 * time.Second

// dataDisk attaches the VM's data disk, STATE/data.raw, creating it on
// first use. The guest init finds it by its serial, formats it once and
// keeps the engine's state on it: a later run with the same --state finds
// the images, containers and volumes again.
func dataDisk(a *app, cfg *vm.Config, size int64) error {
	p := filepath.Join(cfg.StateDir, dataDiskFile)
	created, err := vm.CreateDisk(p, size)
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	if created {
		a.log.Info("created the data disk", "path", p, "bytes", size)
	}
	cfg.Disks = append(cfg.Disks, vm.Disk{Path: p, Serial: bootparams.DataDiskSerial})
	return nil
}

// shareDirs adds the --share directories, refused before the VM starts
// when the image's admin settings do not allow them (the guest init
// checks again against its verified copy).
func shareDirs(ctx context.Context, cfg *vm.Config, dirs []string) error {
	if len(dirs) == 0 {
		return nil
	}
	s, err := configimage.DiskSettings(ctx, cfg.Disks[0].Path)
	if err != nil {
		return fmt.Errorf("run: reading the image's admin settings for --share: %w", err)
	}
	h := configimage.HostDirs()
	real, err := configimage.CheckShares(s, dirs, h)
	if err != nil {
		return fmt.Errorf("run: --share: %w", err)
	}
	uid, gid := configimage.ShareOwner(s)
	for _, d := range real {
		cfg.Shares = append(cfg.Shares, vm.Share{HostDir: d, OwnerUID: uid, OwnerGID: gid})
	}
	cfg.ShareHost = bootparams.HostDirs{Home: h.Home, Temp: h.Temp}
	return nil
}

// dataDiskFile is the data disk's name in the state directory.
const dataDiskFile = "data.raw"

// parseSize reads "64G", "512M", "1T" or a byte count.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	if i := len(s) - 1; i > 0 {
		if m := strings.IndexByte("KMGT", s[i]); m >= 0 {
			mult, s = int64(1)<<(10*(m+1)), s[:i]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("want a positive size like 64G")
	}
	return n * mult, nil
}

func forwardStdin(in io.Reader, c *vm.Console) {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		if c.Send(sc.Text()) != nil {
			return
		}
	}
}
