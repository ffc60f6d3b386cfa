package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/hardenvm/hardenvm/internal/epoch"
	"github.com/hardenvm/hardenvm/internal/tty"
	"github.com/hardenvm/hardenvm/pkg/efivars"
	"github.com/hardenvm/hardenvm/pkg/imagebuild"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
)

func init() { register(newBuildCmd) }

func newBuildCmd(a *app) *cobra.Command {
	var o imagebuild.Options
	var epochFlag string
	cmd := &cobra.Command{
		Use:   "build SPEC",
		Short: "Build a signed, verity-protected VM image from a spec and its lock file",
		Long: `build turns an image spec (images/*.yml) and its lock file into a directory
with ` + imagedir.Disk + ` (GPT: ESP with the signed UKI, EROFS root, dm-verity tree),
` + imagedir.UKI + `, ` + imagedir.Vars + ` (our Secure Boot keys enrolled), ` + imagedir.SBOM + ` (a
CycloneDX SBOM of every package and guest binary), ` + imagedir.Manifest + ` and
` + imagedir.Bundle + ` (a sigstore bundle signing the manifest with the
artifact-signing key; check it with 'hardenvm verify') and
` + imagedir.Provenance + ` (SLSA provenance of every artifact, signed with
the same key; cosign verify-blob-attestation --type slsaprovenance1
checks it too). --format qcow2 and --format vhdx add the same disk as
` + imagedir.DiskQCOW2 + ` and ` + imagedir.DiskVHDX + ` (sparse, written from ` + imagedir.Disk + `, listed in the
manifest; 'hardenvm run --disk-format' boots them).

It reads only what the lock pins, needs no root, and is reproducible: the
same inputs and SOURCE_DATE_EPOCH give the same bytes (all but the
signature, which ECDSA randomizes). The output directory appears whole or
not at all.`,
		Example: `  hardenvm build images/minimal.yml -o out/minimal
  SOURCE_DATE_EPOCH=1700000000 hardenvm build images/desktop.yml -o out/desktop --keys keys
  hardenvm build images/minimal.yml --format qcow2 --format vhdx   # + disk.qcow2, disk.vhdx`,
		Args: exactArgs("SPEC"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Spec = args[0]
			if _, err := imagedir.CheckFormats(o.Formats); err != nil {
				return usagef("build: --format: %w", err)
			}
			t, err := epoch.Flag(epochFlag)
			if err != nil {
				return usagef("build: %w", err)
			}
			o.Epoch, o.Log, o.Terminal = t, a.log, tty.Terminal(a.stderr)
			o.FillDefaults()
			start := time.Now()
			m, err := imagebuild.Build(cmd.Context(), o)
			if err != nil {
				return err
			}
			a.log.Info("build done", "out", o.Out, "took", time.Since(start).Round(time.Millisecond))
			if m.Unhardened {
				fmt.Fprintf(a.stderr, "hardenvm: WARNING: %s is UNHARDENED (--unhardened-for-benchmarks): for benchmarks only; verify, attest and push refuse it\n", o.Out)
			}
			if a.json {
				return a.printJSON(m)
			}
			fmt.Fprintf(a.stdout, "%s: root hash %s\n", o.Out, m.Root.RootHash)
			for _, name := range append(imagedir.DiskFiles(m), imagedir.UKI, imagedir.Vars, imagedir.SBOM) {
				fmt.Fprintf(a.stdout, "  %-13s sha256 %s\n", name, m.Artifacts[name].SHA256)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Out, "output", "o", "", "output directory (default out/<spec name>)")
	f.StringVar(&o.Keys, "keys", "keys", "key set directory (hardenvm keys init)")
	f.StringVar(&o.Init, "init", "", "static guest init binary of the spec's architecture (default: hardenvm-init beside this program; for arm64 in arm64/ beside it)")
	f.StringVar(&o.Agent, "agent", "", "static attestation agent, for specs that run it (default: hardenvm-agent beside this program; for arm64 in arm64/ beside it)")
	f.StringArrayVar(&o.Formats, "format", nil, "also write the disk as qcow2 ("+imagedir.DiskQCOW2+") or vhdx ("+imagedir.DiskVHDX+"); repeatable ("+imagedir.Disk+" is always written)")
	f.StringVar(&o.Golden, "golden", "", "golden firmware PCRs to put into the manifest (from 'hardenvm attest --record-golden')")
	mirrorFlags(f, &o.Mirrors)
	f.StringVar(&o.VarsTemplate, "vars-template", "", "firmware variable store template (default: "+efivars.OVMF.Vars+" of Debian's ovmf; for arm64 "+efivars.AAVMF.Vars+" of qemu-efi-aarch64)")
	f.BoolVar(&o.NoStageCache, "no-cache", false, "rebuild the root image, verity tree, initramfs and SBOM even when the stage cache (~/.cache/hardenvm/stages) has them for these inputs")
	f.StringVar(&epochFlag, "epoch", "", "timestamp of everything in the image, seconds since 1970 (default $SOURCE_DATE_EPOCH, else 0)")
	// For benchmarks of what the hardening costs (test/qemu
	// BenchmarkDesktopHardeningOverhead); hidden from --help so that
	// nobody takes it for an option of a real image.
	f.BoolVar(&o.UnhardenedForBenchmarks, "unhardened-for-benchmarks", false, "build the image with its root unverified, config unchecked, no Secure Boot or TPM (benchmarks only; verify, attest and push refuse it)")
	f.MarkHidden("unhardened-for-benchmarks")
	return cmd
}
