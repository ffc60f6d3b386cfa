// Package imagebuild is the image pipeline behind `hardenvm build`: from a spec
// and its lock file to an image directory (pkg/imagedir): the disk, the
// UKI, the enrolled firmware variables, the SBOM, the manifest with its
// signature, and the signed SLSA provenance.
//
// It runs without root and reads only what the lock pins (plus the key set,
// the guest init binary and the firmware variable template, which the
// manifest records by digest). The same inputs give the same bytes: every
// timestamp is the build's epoch (SOURCE_DATE_EPOCH), every UUID, salt and
// GUID is derived from content, and the Authenticode signature carries no
// signing time. The output directory appears whole or not at all.
package imagebuild

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hardenvm/hardenvm/boot/bootparams"
	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/internal/tty"
	"github.com/hardenvm/hardenvm/pkg/arch"
	"github.com/hardenvm/hardenvm/pkg/authenticode"
	"github.com/hardenvm/hardenvm/pkg/configimage"
	"github.com/hardenvm/hardenvm/pkg/debarchive"
	"github.com/hardenvm/hardenvm/pkg/disk"
	"github.com/hardenvm/hardenvm/pkg/efivars"
	"github.com/hardenvm/hardenvm/pkg/fat"
	"github.com/hardenvm/hardenvm/pkg/imagedir"
	"github.com/hardenvm/hardenvm/pkg/imagespec"
	"github.com/hardenvm/hardenvm/pkg/keys"
	"github.com/hardenvm/hardenvm/pkg/lockfile"
	"github.com/hardenvm/hardenvm/pkg/manifest"
	"github.com/hardenvm/hardenvm/pkg/pcr"
	"github.com/hardenvm/hardenvm/pkg/rootfs"
	"github.com/hardenvm/hardenvm/pkg/uki"
	"github.com/hardenvm/hardenvm/pkg/verity"
)

// DataSpace is left unpartitioned at the end of the disk: the guest init
// makes the writable data partition there on first boot. The disk file is
// sparse, so the space costs nothing until the guest writes.
const DataSpace = 256 << 20

// Options configure a build.
type Options struct {
	Spec string // the image spec; its lock file sits beside it
	Out  string // output directory, replaced as a whole on success
	Keys string // key set directory (hardenvm keys init)
	// Init is the static guest init binary for the spec's architecture
	// (make build puts it in bin/hardenvm-init, bin/arm64/hardenvm-init;
	// GuestBinary when empty).
	Init string
	// Agent is the static attestation agent (make build puts it in
	// bin/hardenvm-agent, bin/arm64/hardenvm-agent; GuestBinary when
	// empty), installed at bootparams.RootAgent. Required when the spec
	// runs it as a service; left out otherwise.
	Agent string
	// Golden is a file of golden firmware PCRs (hardenvm attest
	// --record-golden), copied into the manifest; none when empty.
	Golden string
	// VarsTemplate is the firmware's empty variable store; that of the
	// spec's architecture's firmware (efivars.FirmwareOf) when empty.
	VarsTemplate string
	Mirrors      debarchive.Mirrors // Debian mirrors; the host's apt sources fill what is empty
	Cache        *debarchive.Cache  // download cache; the user cache when nil
	// Formats are the disk formats to write besides disk.raw, which is
	// always written (imagedir.Formats: "qcow2", "vhdx"; "raw" is
	// accepted and changes nothing).
	Formats []string
	// Epoch is SOURCE_DATE_EPOCH: every timestamp in the image.
	Epoch time.Time
	// NoStageCache rebuilds every stage instead of reusing the root
	// image, its verity tree, the initramfs and the SBOM of an earlier
	// build with the same inputs (see stageCache).
	NoStageCache bool
	// StageCache is the stage cache's directory; "stages" in the
	// download cache's directory when empty.
	StageCache string
	// UnhardenedForBenchmarks builds the same image with its hardening
	// off, for benchmarks that measure what the hardening costs: the
	// signed command line says bootparams.UnhardenedParam (the init mounts
	// the root without dm-verity and the config unverified, with no TPM,
	// and refuses to under Secure Boot), and the manifest says
	// "unhardened": true, which verify, attest and push refuse and for
	// which run picks firmware without Secure Boot and no TPM. Never a
	// spec field: an admin's spec cannot ask for it. amd64 only.
	UnhardenedForBenchmarks bool
	// Terminal gets a line per step when not nil (a terminal).
	Terminal io.Writer
	Log      *slog.Logger
}

// Build runs the whole pipeline and returns the manifest it wrote. When ctx
// is done (Ctrl-C, SIGTERM) it stops at the next step or read, and the
// error says the output was left as it was.
func Build(ctx context.Context, o Options) (*manifest.Manifest, error) {
	m, err := build(ctx, o)
	var ie *interruptedError
	if err != nil && ctx.Err() != nil && !errors.As(err, &ie) {
		// A read or a step that noticed first: say it the same way.
		return nil, &interruptedError{o.Out, ctx.Err()}
	}
	return m, err
}

func build(ctx context.Context, o Options) (*manifest.Manifest, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	// Never replace something that is not a previous output (a project's
	// sources, a parent of several images): check before any work.
	if err := imagedir.CheckReplaceable(o.Out); err != nil {
		return nil, fmt.Errorf("build: output %w", err)
	}
	formats, err := imagedir.CheckFormats(o.Formats)
	if err != nil {
		return nil, fmt.Errorf("build: --format: %w", err)
	}
	p := &progress{term: &tty.Steps{W: o.Terminal, Total: 12}, log: o.Log, total: 12, out: o.Out}
	defer p.end()

	if err := p.begin(ctx, "reading the spec, lock and keys"); err != nil {
		return nil, err
	}
	s, lock, err := imagespec.LoadLocked(o.Spec)
	if err != nil {
		return nil, err
	}
	if err := s.CheckSettings(configSettingKey); err != nil {
		return nil, err
	}
	set, err := keys.Load(o.Keys)
	if err != nil {
		return nil, err
	}
	a, fw, err := archOf(s)
	if err != nil {
		return nil, err
	}
	if o.UnhardenedForBenchmarks && a.Debian != "amd64" {
		return nil, fmt.Errorf("build: %s: --unhardened-for-benchmarks builds amd64 images only (the guest init tells Secure Boot is off from x86 boot_params), not %s", o.Spec, a.Debian)
	}
	if o.Init == "" {
		o.Init = GuestBinary("hardenvm-init", a)
	}
	if o.Agent == "" {
		o.Agent = GuestBinary("hardenvm-agent", a)
	}
	initBin, err := os.ReadFile(o.Init)
	if err != nil {
		return nil, fmt.Errorf("build: guest init %s: %w; build it with 'make build' or pass --init", o.Init, errors.Unwrap(err))
	}
	if err := checkGuestBinary("guest init", o.Init, initBin, a); err != nil {
		return nil, err
	}
	agentBin, err := readAgent(s, o.Agent)
	if err != nil {
		return nil, err
	}
	if agentBin != nil {
		if err := checkGuestBinary("attestation agent", o.Agent, agentBin, a); err != nil {
			return nil, err
		}
	}
	if o.VarsTemplate == "" {
		o.VarsTemplate = fw.Vars
	}
	for _, f := range []string{o.VarsTemplate} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("build: firmware variable template %s: %w; install the Debian package %s", f, errors.Unwrap(err), fw.Package)
		}
	}
	m := &manifest.Manifest{Version: manifest.Version, Name: s.Name, Arch: a.Debian, Epoch: o.Epoch.Unix(), Artifacts: map[string]manifest.File{},
		Unhardened: o.UnhardenedForBenchmarks}
	if m.Spec, err = manifest.HashFile(o.Spec); err != nil {
		return nil, err
	}
	m.Spec.Path = filepath.Base(o.Spec)
	if m.Lock, err = manifest.HashFile(imagespec.LockPath(o.Spec)); err != nil {
		return nil, err
	}
	m.Lock.Path = filepath.Base(imagespec.LockPath(o.Spec))
	m.InitBinary = manifest.HashBytes(initBin)
	if agentBin != nil {
		a := manifest.HashBytes(agentBin)
		m.Agent = &a
	}
	m.Keys = manifest.Keys{PK: set.Get(keys.PK).Fingerprint(), KEK: set.Get(keys.KEK).Fingerprint(),
		DB: set.Get(keys.DB).Fingerprint(), Admin: set.Get(keys.Admin).Fingerprint()}

	if err := p.begin(ctx, "fetching the locked packages"); err != nil {
		return nil, err
	}
	mirrors, err := debarchive.FindMirrors(o.Mirrors, "/")
	if err != nil {
		return nil, err
	}
	cache := o.Cache
	if cache == nil {
		if cache, err = debarchive.DefaultCache(); err != nil {
			return nil, err
		}
		cache.Log = o.Log
	}
	paths, err := lockfile.Fetch(ctx, lock, mirrors, cache)
	if err != nil {
		return nil, err
	}
	for _, g := range []struct {
		role string
		pkgs []imagespec.Package
	}{{"rootfs", lock.Packages}, {"kernel", lock.Kernel}, {"stub", []imagespec.Package{lock.Stub}}} {
		for _, pk := range g.pkgs {
			m.Inputs = append(m.Inputs, manifest.Package{Name: pk.Name, Version: pk.Version, Role: g.role, SHA256: pk.SHA256})
		}
	}

	if err := os.MkdirAll(filepath.Dir(filepath.Clean(o.Out)), 0o755); err != nil {
		return nil, fmt.Errorf("build: output directory: %w", err)
	}
	// Locked while this build runs; later builds remove the work
	// directories of builds that were killed.
	workDir, err := atomicfile.MkdirTemp(filepath.Dir(filepath.Clean(o.Out)), ".hardenvm-build-")
	if err != nil {
		return nil, fmt.Errorf("build: work directory: %w", err)
	}
	defer workDir.Remove()
	work := workDir.Path

	in, err := readInputs(s, lock, o, initBin, agentBin, paths, cache, set)
	if err != nil {
		return nil, err
	}
	if o.StageCache == "" {
		o.StageCache = filepath.Join(cache.Dir, "stages")
	}
	stages := newStageCache(o.StageCache, o.NoStageCache, o.Log)
	// The kernel and initramfs need nothing from the root: they are
	// built beside it, on the other cores.
	type bootResult struct {
		b   *bootStage
		err error
	}
	bootDone := make(chan bootResult, 1)
	go func() {
		b, err := buildBoot(stages, in, work, o)
		bootDone <- bootResult{b, err}
	}()
	rs, err := buildRoot(ctx, p, stages, in, work, o)
	if err != nil {
		return nil, err
	}
	defer rs.close()
	root := io.NewSectionReader(rs.root, 0, rs.Image.Size)
	hashTree, err := section(rs.verity)
	if err != nil {
		return nil, err
	}
	rootImg, vr := rs.Image, rs.Verity
	rootHash := hex.EncodeToString(vr.RootHash)
	m.Root = manifest.Root{Format: "erofs", Size: rootImg.Size, UUID: verity.FormatUUID(rootImg.UUID),
		RootHash: rootHash, Salt: hex.EncodeToString(vr.Salt), VerityUUID: verity.FormatUUID(vr.UUID),
		DataBlocks: vr.DataBlocks, HashSize: vr.HashSize, Corruption: s.Verity.Corruption}

	if err := p.begin(ctx, "building and signing the config partition"); err != nil {
		return nil, err
	}
	cfg, err := buildConfig(ctx, s, o, set)
	if err != nil {
		return nil, err
	}
	m.Config = configimage.Describe(cfg)

	if err := p.begin(ctx, "assembling the initramfs"); err != nil {
		return nil, err
	}
	br := <-bootDone
	if br.err != nil {
		return nil, br.err
	}
	kern := br.b.kern
	m.Initramfs = br.b.Initramfs

	if err := p.begin(ctx, "building and signing the UKI"); err != nil {
		return nil, err
	}
	sdebs, err := debsOf([]imagespec.Package{lock.Stub}, paths, cache)
	if err != nil {
		return nil, err
	}
	stubTree, _, err := rootfs.Unpack(sdebs, rootfs.UnpackOptions{Epoch: o.Epoch, Log: o.Log})
	if err != nil {
		return nil, err
	}
	stub, err := readTree(stubTree, a.StubPath())
	if err != nil {
		return nil, fmt.Errorf("%w (is %s the systemd-boot-efi package?)", err, lock.Stub.Name)
	}
	m.Cmdline, err = bootparams.Params{RootHash: rootHash, Corruption: s.Verity.Corruption, Console: s.Console, Arch: a.Debian,
		Unhardened: o.UnhardenedForBenchmarks}.Cmdline()
	if err != nil {
		return nil, err
	}
	unsigned, err := uki.Build(uki.Input{Stub: stub, Linux: kern.vmlinuz, Initrd: br.b.initrd,
		Cmdline: m.Cmdline, OSRel: string(rs.OSRelease), Uname: kern.release})
	if err != nil {
		return nil, err
	}
	if mach, _ := uki.Machine(unsigned); mach != a.PEMachine {
		return nil, fmt.Errorf("build: %s: the UKI stub and kernel are for %s, the spec's debian.arch is %s: lock the spec again", o.Spec, arch.MachineName(mach), a.Debian)
	}
	db := set.Get(keys.DB)
	signed, err := authenticode.Sign(unsigned, db.Signer, db.Cert)
	if err != nil {
		return nil, err
	}
	if err := describeUKI(m, signed, kern.release, db); err != nil {
		return nil, err
	}

	out, err := atomicfile.CreateDir(o.Out, 0o755)
	if err != nil {
		return nil, err
	}
	defer out.Abort()
	if err := atomicfile.WriteFile(filepath.Join(out.Path, imagedir.UKI), signed, 0o644); err != nil {
		return nil, err
	}

	if err := p.begin(ctx, "enrolling our keys in the firmware variables"); err != nil {
		return nil, err
	}
	enroll, err := efivars.KeySetEnrollment(set, o.Epoch)
	if err != nil {
		return nil, err
	}
	if err := fw.EnrollFile(o.VarsTemplate, filepath.Join(out.Path, imagedir.Vars), enroll); err != nil {
		return nil, err
	}
	vars, err := os.ReadFile(filepath.Join(out.Path, imagedir.Vars))
	if err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}

	if err := p.begin(ctx, "writing the GPT disk"); err != nil {
		return nil, err
	}
	res, err := writeDisk(filepath.Join(out.Path, imagedir.Disk), disk.Image{
		ESP:  []fat.File{{Path: a.BootPath(), Size: int64(len(signed)), Data: bytes.NewReader(signed)}},
		Time: o.Epoch, Root: root, RootVerity: hashTree, RootHash: vr.RootHash,
		Free: DataSpace, Arch: a.Debian,
		Config: io.NewSectionReader(bytes.NewReader(cfg.Bytes), 0, int64(len(cfg.Bytes))), ConfigSize: ConfigPartitionSize,
	})
	if err != nil {
		return nil, err
	}
	describeDisk(m, res)
	artifacts := []string{imagedir.Disk}
	for _, f := range formats {
		name, _ := imagedir.DiskFile(f)
		if err := p.interrupted(ctx); err != nil {
			return nil, err
		}
		if _, err := imagedir.WriteDiskFormat(ctx, out.Path, f); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
		artifacts = append(artifacts, name)
	}
	// The measured-boot prediction (PCRs 4, 5, 7, 9, 11, 15) from the
	// signed UKI, the enrolled store, the disk's GPT and the root hashes.
	if m.PCRs, err = pcr.PredictBuild(signed, vars, res.Table, vr.RootHash, cfg.Layout.Verity.RootHash); err != nil {
		return nil, err
	}
	if o.Golden != "" {
		if m.PCRs.Firmware, err = pcr.ReadGolden(o.Golden); err != nil {
			return nil, err
		}
	}

	if err := p.begin(ctx, "writing the SBOM"); err != nil {
		return nil, err
	}
	sb, err := sbomInput(s, lock, paths, cache, kern, initBin, agentBin, o)
	if err != nil {
		return nil, err
	}
	if err := writeSBOM(out.Path, sb, stages, in.rootKey(stages, "sbom"), work); err != nil {
		return nil, err
	}

	if err := p.begin(ctx, "writing and signing the manifest"); err != nil {
		return nil, err
	}
	// disk.raw is a function of the root entry, the signed UKI, the
	// config partition and the epoch: its digest is remembered with them.
	diskKey := stages.key("disk", []byte(in.rootKey(stages, "root")), []byte(manifest.HashBytes(signed).SHA256),
		[]byte(manifest.HashBytes(cfg.Bytes).SHA256), in.epoch)
	for _, name := range append(artifacts, imagedir.UKI, imagedir.Vars, imagedir.SBOM) {
		if name == imagedir.Disk {
			if f, ok := knownDigest(stages, diskKey, res.Size); ok {
				m.Artifacts[name] = f
				continue
			}
		}
		f, err := imagedir.HashArtifact(ctx, out.Path, name, manifest.File{})
		if err != nil {
			return nil, err
		}
		m.Artifacts[name] = f
		if name == imagedir.Disk {
			rememberDigest(stages, diskKey, f, work)
		}
	}
	if err := imagedir.WriteManifest(out.Path, m); err != nil {
		return nil, err
	}
	// The sigstore bundle over the manifest: what `hardenvm verify` and
	// `hardenvm run` check before anything else.
	if err := imagedir.Sign(out.Path, set.Get(keys.Signing).Signer); err != nil {
		return nil, err
	}
	// The signed SLSA provenance over every output, manifest included.
	if err := writeProvenance(out.Path, o, m, lock, sb.Binaries, set.Get(keys.Signing).Signer); err != nil {
		return nil, err
	}
	if err := p.interrupted(ctx); err != nil {
		return nil, err
	}
	// Again, in case something else appeared there meanwhile.
	if err := imagedir.CheckReplaceable(o.Out); err != nil {
		return nil, fmt.Errorf("build: output %w", err)
	}
	if err := out.Commit(); err != nil {
		return nil, err
	}
	// Done with the packages (root, kernel, SBOM): bound the
	// decompressed .debs.
	if n, err := cache.PruneDecompressed(debarchive.DecompressedMax); err != nil {
		o.Log.Warn("pruning the decompressed packages", "err", err)
	} else if n > 0 {
		o.Log.Info("decompressed packages pruned (least recently used)", "bytes", n)
	}
	return m, nil
}
