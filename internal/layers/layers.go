// Package layers states the order of the image pipeline, so that a test can
// check that no package imports one that stands later in it:
//
//	spec → rootfs → boot → disk → image directory → verify/attest → CLI
//
// Formats and small libraries (GPT, EROFS, dm-verity, cpio, the manifest,
// the keys …) belong to no stage: they are Format and may import only other
// formats. A stage may import formats and earlier stages. The guest's
// programs (its init, agent, runtime shim) stand with boot: they read the
// formats the build writes and share its contracts (boot/bootparams).
package layers

// Stage is a package's place in the pipeline; a package may import only
// packages of its own stage or an earlier one.
type Stage int

const (
	Format   Stage = iota // a format or a library: no pipeline stage
	Spec                  // what to build: the spec, its lock, the Debian archive
	Rootfs                // the root filesystem from the packages
	Boot                  // the boot chain and the guest: UKI, initramfs, PCRs, init
	Disk                  // the disk image: the partitions and the config partition
	ImageDir              // the built image directory, and the build that writes it
	Check                 // what reads an image directory: verify, attest, push, run
	CLI                   // the commands
	Test                  // helpers for tests only; nothing else imports them
)

var names = [...]string{"format", "spec", "rootfs", "boot", "disk", "image directory", "check", "CLI", "test"}

func (s Stage) String() string { return names[s] }

// Of maps each package, relative to the module root, to its stage. The test
// fails for a package missing here, so a new package gets placed on purpose.
var Of = map[string]Stage{
	"internal/atomicfile": Format,
	"internal/cliresult":  Format,
	"internal/ctxio":      Format,
	"internal/epoch":      Format,
	"internal/pipe":       Format,
	"internal/readfile":   Format,
	"internal/sparse":     Format,
	"internal/blockmap":   Format,
	"internal/tty":        Format,
	"internal/version":    Format,
	"internal/layers":     Format,

	"pkg/cpio":                      Format,
	"pkg/gpt":                       Format,
	"pkg/arch":                      Format,
	"pkg/mountinfo":                 Format,
	"pkg/qcow2":                     Format,
	"pkg/vhdx":                      Format,
	"pkg/fat":                       Format,
	"pkg/fstree":                    Format,
	"pkg/erofs":                     Format,
	"pkg/lz4":                       Format,
	"pkg/verity":                    Format,
	"pkg/verity/internal/sha256x16": Format,
	"pkg/verity/veritysetup":        Format,
	"pkg/keys":                      Format,
	"pkg/efivars":                   Format,
	"pkg/manifest":                  Format,
	"pkg/checklist":                 Format,
	"pkg/sign":                      Format,
	"pkg/provenance":                Format,
	"pkg/adminsettings":             Format,
	"pkg/configpart":                Format,
	"pkg/deb822":                    Format,
	"pkg/debpkg":                    Format,
	"pkg/debcopyright":              Format,
	"pkg/authenticode":              Format,
	"pkg/uki":                       Format,
	"pkg/runtime":                   Format,
	"pkg/runtime/authz":             Format,
	"pkg/runtime/attempts":          Format,
	"pkg/runtime/mountguard":        Format,
	"pkg/enginesock":                Format,
	"pkg/vport":                     Format,
	"pkg/portfwd":                   Format,
	"pkg/egress":                    Format,
	"pkg/dockercontext":             Format,
	"pkg/attest/agentproto":         Format,

	"pkg/imagespec":              Spec,
	"pkg/debarchive":             Spec,
	"pkg/debarchive/fakearchive": Spec,
	"pkg/debchangelog":           Spec,
	"pkg/lockfile":               Spec,

	"pkg/rootfs": Rootfs,
	"pkg/sbom":   Rootfs,

	"boot/bootparams":             Boot,
	"boot/measure":                Boot,
	"boot/init":                   Boot,
	"boot/init/internal/dhcp":     Boot,
	"boot/init/internal/dnsproxy": Boot,
	"boot/init/internal/dm":       Boot,
	"boot/init/internal/netlink":  Boot,
	"boot/init/internal/tpm":      Boot,
	"pkg/initramfs":               Boot,
	"pkg/pcr":                     Boot,
	"pkg/runtime/shim":            Boot,
	"pkg/attest/agent":            Boot,
	"cmd/hardenvm-agent":          Boot,
	"cmd/hardenvm-runc":           Boot,
	"cmd/hardenvm-authz":          Boot,
	"cmd/hardenvm-bridge":         Boot,
	"cmd/hardenvm-egress":         Boot,
	"cmd/hardenvm-attempts":       Boot,

	"pkg/disk":        Disk,
	"pkg/configimage": Disk,

	"pkg/imagebuild": ImageDir,
	"pkg/imagedir":   ImageDir,

	"pkg/attest": Check,
	"pkg/oci":    Check,
	"pkg/vm":     Check,
	"pkg/launch": Check,

	"cmd/hardenvm": CLI,

	"internal/buildtest":           Test,
	"internal/cosigntest":          Test,
	"internal/debtest":             Test,
	"internal/imagetest":           Test,
	"internal/registrytest":        Test,
	"internal/swtpmtest":           Test,
	"internal/testenv":             Test,
	"internal/qemuimgtest":         Test,
	"internal/testkernel":          Test,
	"pkg/fstree/fstreetest":        Test,
	"test/qemu":                    Test,
	"test/qemu/cmd/mkinitrd":       Test,
	"test/qemu/cmd/hardeningbench": Test,
	"internal/benchtable":          Test,
	"test/bench":                   Test,
	"test/qemu/testinitrd":         Test,
}
