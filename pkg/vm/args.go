package vm

import (
	"fmt"
	"strings"

	"github.com/hardenvm/hardenvm/boot/bootparams"
)

// qemuArgs is the QEMU command line for c with the chosen accelerator
// (kvm or tcg). It is a pure function so that tests can check it.
func qemuArgs(c *Config, accel Accel) []string {
	if c.Arch == "arm64" {
		return qemuArgsARM64(c, accel)
	}
	machine := "q35"
	accelOpt := string(accel)
	if accel == AccelTCG {
		// One thread for all vCPUs: with multi-threaded TCG, QEMU 7.2
		// now and then ran a vCPU on stale code while the guest kernel
		// patched itself, and the kernel died in interrupt context
		// ("Fatal exception in interrupt", RIP mid-instruction) early in
		// boot. Round-robin vCPUs cannot race; on a 2-core host they cost
		// little.
		accelOpt += ",thread=single"
	}
	a := []string{"-accel", accelOpt,
		"-nodefaults", "-no-user-config", "-display", "none",
		"-m", fmt.Sprint(c.MemoryMiB), "-smp", fmt.Sprint(c.CPUs),
	}
	if accel == AccelKVM {
		a = append(a, "-cpu", "host")
	} else {
		a = append(a, "-cpu", "max")
	}
	if c.FirmwareCode != "" {
		// Secure Boot OVMF needs SMM and a flash that only SMM can write,
		// or the guest OS could rewrite the variables behind the firmware.
		machine += ",smm=on"
		a = append(a,
			"-global", "driver=cfi.pflash01,property=secure,value=on",
			"-global", "ICH9-LPC.disable_s3=1",
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+escapeOpt(c.FirmwareCode),
			"-drive", "if=pflash,format=raw,unit=1,file="+escapeOpt(c.FirmwareVars),
		)
	}
	a = append([]string{"-machine", machine}, a...)
	return append(a, deviceArgs(c, "tpm-tis")...)
}

// qemuArgsARM64 is qemuArgs for an arm64 guest: QEMU's virt machine with
// AAVMF in its two 64 MiB flash banks. ArmVirtQemu has no SMM: the
// variable store is plain flash the guest kernel could write, so Secure
// Boot's keys are protected only as far as the guest is (a known limit of
// the firmware, not of the image). Under TCG the CPU model is a
// Cortex-A72: "max" adds pointer authentication, whose emulation (QARMA)
// makes the boot several times slower.
func qemuArgsARM64(c *Config, accel Accel) []string {
	accelOpt, cpu := string(accel), "cortex-a72"
	if accel == AccelTCG {
		accelOpt += ",thread=single" // as on x86 (qemuArgs)
	} else {
		cpu = "host"
	}
	a := []string{"-machine", "virt", "-accel", accelOpt, "-cpu", cpu,
		"-nodefaults", "-no-user-config", "-display", "none",
		"-m", fmt.Sprint(c.MemoryMiB), "-smp", fmt.Sprint(c.CPUs),
	}
	if c.FirmwareCode != "" {
		a = append(a,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+escapeOpt(c.FirmwareCode),
			"-drive", "if=pflash,format=raw,unit=1,file="+escapeOpt(c.FirmwareVars),
		)
	}
	return append(a, deviceArgs(c, "tpm-tis-device")...)
}

// deviceArgs are the devices both machines have: shares, the serial
// console, QMP, the TPM (tpmDevice: QEMU's TIS model for the machine),
// disks, channels, the network and a direct kernel boot.
func deviceArgs(c *Config, tpmDevice string) []string {
	var a []string
	if len(c.Shares) > 0 {
		// vhost-user devices (virtiofsd) map the guest's memory: it
		// must be shareable, and the same size as -m.
		a = append(a,
			"-object", fmt.Sprintf("memory-backend-memfd,id=mem,size=%dM,share=on", c.MemoryMiB),
			"-numa", "node,memdev=mem")
		for i := range c.Shares {
			a = append(a,
				"-chardev", fmt.Sprintf("socket,id=vfs%d,path=%s", i, escapeOpt(c.shareSocket(i))),
				"-device", fmt.Sprintf("vhost-user-fs-pci,chardev=vfs%d,tag=%s", i, bootparams.ShareTag(i)))
		}
		a = append(a, "-fw_cfg", "name="+bootparams.SharesFWCfg+",file="+escapeOpt(c.sharesFile()))
	}
	// Serial console on stdio: the host process reads and writes it.
	a = append(a, "-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0")
	a = append(a, "-qmp", "unix:"+escapeOpt(c.qmpSocket())+",server=on,wait=off")
	if c.TPM {
		a = append(a,
			"-chardev", "socket,id=chrtpm,path="+escapeOpt(c.tpmSocket()),
			"-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
			"-device", tpmDevice+",tpmdev=tpm0")
	}
	for i, d := range c.Disks {
		format := d.Format
		if format == "" {
			format = "raw"
		}
		opt := fmt.Sprintf("if=none,id=disk%d,format=%s,file=%s", i, escapeOpt(format), escapeOpt(d.Path))
		if d.ReadOnly {
			opt += ",readonly=on"
		}
		if d.Snapshot {
			opt += ",snapshot=on"
		}
		dev := fmt.Sprintf("virtio-blk-pci,drive=disk%d", i)
		if d.Serial != "" {
			dev += ",serial=" + escapeOpt(d.Serial)
		}
		a = append(a, "-drive", opt, "-device", dev)
	}
	if len(c.Channels) > 0 {
		a = append(a, "-device", "virtio-serial-pci,id=vser0")
		for i, name := range c.Channels {
			a = append(a,
				"-chardev", fmt.Sprintf("socket,id=chan%d,path=%s,server=on,wait=off", i, escapeOpt(c.ChannelPath(name))),
				"-device", fmt.Sprintf("virtserialport,bus=vser0.0,chardev=chan%d,name=%s", i, escapeOpt(name)))
		}
	}
	if c.Net != nil {
		opt := "user,id=net0,restrict=on"
		if c.Net.NAT {
			opt = "user,id=net0"
		}
		for _, f := range c.Net.HostForwards {
			opt += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", f.HostPort, f.GuestPort)
		}
		for _, f := range c.Net.GuestForwards {
			opt += fmt.Sprintf(",guestfwd=tcp:%s-tcp:%s", f.GuestAddr, f.Target)
		}
		a = append(a, "-netdev", opt, "-device", "virtio-net-pci,netdev=net0")
	}
	if c.Kernel != "" {
		a = append(a, "-kernel", c.Kernel)
		if c.Initrd != "" {
			a = append(a, "-initrd", c.Initrd)
		}
		if c.Append != "" {
			a = append(a, "-append", c.Append)
		}
	}
	if !c.Reboot {
		a = append(a, "-no-reboot")
	}
	return a
}

// escapeOpt doubles commas, QEMU's escape inside option values.
func escapeOpt(s string) string { return strings.ReplaceAll(s, ",", ",,") }
