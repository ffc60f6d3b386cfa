// Package testinitrd writes the tiny initramfs the harness boot tests use:
// busybox and a shell /init that mounts the kernel file systems, reports
// what the tests check (the TPM), prints a ready marker and then either
// offers a shell on the console or powers off.
package testinitrd

import (
	"fmt"
	"io"
	"os"

	"github.com/hardenvm/hardenvm/pkg/cpio"
)

// Markers printed by /init.
const (
	StartMarker = "HARDENVM-TEST-INIT-START"
	ReadyMarker = "HARDENVM-TEST-INIT-READY"
	TPMMarker   = "HARDENVM-TEST-TPM:"
)

// Busybox is Debian busybox-static's binary.
const Busybox = "/bin/busybox"

// Then says what /init does after the ready marker.
type Then string

const (
	Shell    Then = "shell"    // an interactive shell on the console
	Poweroff Then = "poweroff" // power the VM off
)

func script(then Then) string {
	s := `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "` + StartMarker + ` kernel=$(uname -r)"
if [ -e /sys/class/tpm/tpm0 ]; then
  echo "` + TPMMarker + ` present major=$(cat /sys/class/tpm/tpm0/tpm_version_major)"
else
  echo "` + TPMMarker + ` absent"
fi
echo "` + ReadyMarker + `"
`
	if then == Poweroff {
		return s + "poweroff -f\n"
	}
	return s + "export PS1='# '\nexec sh\n"
}

// Write writes the gzip-compressed initramfs to w. mtime is the timestamp
// of every entry, so the output is reproducible.
func Write(w io.Writer, busybox string, then Then, mtime int64) error {
	return WriteScript(w, busybox, script(then), nil, mtime)
}

// WriteScript writes a busybox initramfs whose /init is the given shell
// script, with extra entries after the base ones (kernel modules under
// lib/modules, say: the directory is there).
func WriteScript(w io.Writer, busybox, init string, extra []cpio.Entry, mtime int64) error {
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return fmt.Errorf("testinitrd: %w (install the Debian package busybox-static)", err)
	}
	cw := cpio.NewGzipWriter(w)
	base := []cpio.Entry{
		{Name: "bin", Mode: cpio.TypeDir | 0o755},
		{Name: "bin/busybox", Mode: cpio.TypeFile | 0o755, Data: bb},
		{Name: "dev", Mode: cpio.TypeDir | 0o755},
		{Name: "dev/console", Mode: cpio.TypeChar | 0o600, Major: 5, Minor: 1},
		{Name: "init", Mode: cpio.TypeFile | 0o755, Data: []byte(init)},
		{Name: "lib", Mode: cpio.TypeDir | 0o755},
		{Name: "lib/modules", Mode: cpio.TypeDir | 0o755},
	}
	for _, e := range append(base, extra...) {
		e.Mtime = mtime
		if err := cw.Add(e); err != nil {
			return err
		}
	}
	return cw.Close()
}
