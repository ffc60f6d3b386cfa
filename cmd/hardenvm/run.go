package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/hardenvm/hardenvm/pkg/efivars"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/launch"
)

func init() { register(newRunCmd) }

func newRunCmd(a *app) *cobra.Command {
	var o launch.Options
	var trust trustFlags
	var noStdin bool
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
Sharing needs no privilege: each virtiofsd runs in a user namespace of
its own (the host's kernel must allow unprivileged user namespaces).

--accel auto probes that KVM really runs a guest (a bounded test boot) and
falls back to TCG software emulation when it does not.`,
		Example: `  hardenvm run out/minimal --keys keys
  hardenvm run out/minimal --key vendor-signing.pub
  hardenvm run --kernel vmlinuz --initrd initrd.img --append console=ttyS0 --timeout 2m
  hardenvm run out/minimal --expect 'login:' --timeout 5m --accel tcg
  hardenvm run out/desktop --state ~/.hardenvm --share "$PWD"   # then: docker run -v "$PWD":/src …`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Dir = args[0]
			}
			if err := o.Check(); err != nil {
				return usageError{err}
			}
			o.Trust = trust.options
			if !noStdin {
				o.Stdin = os.Stdin
			}
			o.Stdout, o.Stderr, o.Log = a.stdout, a.stderr, a.log
			return launch.Run(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Accel, "accel", "auto", "accelerator: auto, kvm or tcg")
	fl.StringVar(&o.Kernel, "kernel", "", "boot this kernel directly instead of an image's disk")
	fl.StringVar(&o.Initrd, "initrd", "", "initramfs for --kernel")
	fl.StringVar(&o.Append, "append", "console=ttyS0", "kernel command line for --kernel")
	fl.StringVar(&o.Firmware, "firmware", "", "UEFI firmware code for image boots (default: "+efivars.OVMF.Code+", for arm64 images "+efivars.AAVMF.Code+")")
	fl.StringVar(&o.DiskFormat, "disk-format", "raw", "which of the image's disks to boot: raw ("+imagedir.Disk+"), qcow2 ("+imagedir.DiskQCOW2+") or vhdx ("+imagedir.DiskVHDX+"; both written by 'hardenvm build --format')")
	fl.StringVar(&o.State, "state", "", "state directory (sockets, TPM state, serial.log); a new temporary one when empty")
	fl.DurationVar(&o.Timeout, "timeout", 0, "stop the VM after this long (0: no limit)")
	fl.StringVar(&o.Expect, "expect", "", "succeed as soon as the console prints a match of this regular expression; fail if the VM ends first")
	fl.IntVar(&o.MemoryMiB, "memory", 1024, "memory in MiB")
	fl.StringVar(&o.DockerContext, "docker-context", "", "create or update this docker CLI context for the VM's engine socket")
	fl.StringVar(&o.DataSize, "data-size", "64G", "size of the data disk an image boot creates in the state directory on first use (sparse; K, M, G, T suffixes)")
	fl.IntVar(&o.CPUs, "cpus", 2, "virtual CPUs")
	fl.BoolVar(&o.NoTPM, "no-tpm", false, "run without a TPM")
	fl.BoolVar(&noStdin, "no-stdin", false, "do not forward standard input to the console")
	fl.StringVar(&o.Network, "network", "", "the VM's network: nat (image boots: the VM reaches what the host reaches, its loopback as 10.0.2.2, and published container ports appear on the host's 127.0.0.1), restricted (only --forward ports), none")
	fl.StringSliceVar(&o.Forwards, "forward", nil, "expose guest TCP port GUEST on 127.0.0.1:HOST (HOST:GUEST, repeatable)")
	fl.StringArrayVar(&o.Shares, "share", nil, "share host directory DIR with the VM at the same path, through virtiofs (repeatable; image boots; limited by the admin settings' filesharingAllowedDirectories)")
	fl.StringSliceVar(&o.Channels, "channel", nil, "virtio-serial channel NAME, its socket STATE/chan-NAME.sock (repeatable; image boots default to the attestation agent's org.hardenvm.agent)")
	trust.register(fl)
	fl.BoolVar(&o.InsecureSkipVerify, "insecure-skip-verify", false, "boot the image WITHOUT verifying it (refused for locked images)")
	return cmd
}
