// Command mkinitrd writes the harness test initramfs (see testinitrd), for
// `make image` until the real image build lands.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/test/qemu/testinitrd"
)

func main() {
	out := flag.String("o", "test-initrd.cpio.gz", "output file")
	then := flag.String("then", "poweroff", "after the ready marker: poweroff or shell")
	flag.Parse()
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "mkinitrd:", err)
		os.Exit(1)
	}
	err := atomicfile.Write(*out, 0o644, func(w io.Writer) error {
		return testinitrd.Write(w, testinitrd.Busybox, testinitrd.Then(*then), 0)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkinitrd:", err)
		os.Exit(1)
	}
}
