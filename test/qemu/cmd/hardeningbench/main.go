// Command hardeningbench is the guest side of test/qemu's
// BenchmarkDesktopHardeningOverhead: a service of the benchmark's desktop
// images (root, started by the init) that waits until the engine answers,
// drops the caches and reads everything once untimed (warming the host's
// cache of the disk file, letting the engine page back in), then times, with the guest's page, dentry and inode caches
// dropped before each run, a sequential read of a large file of the root and a walk of /usr
// that lstats every entry. It prints one console line per sample:
//
//	hardening-bench: read FILE BYTES SECONDS
//	hardening-bench: walk /usr ENTRIES SECONDS
//	hardening-bench: done
//
// Every wait is bounded; a failure prints "hardening-bench: FAIL …".
package main

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// largeFiles are the candidates for the read, the first that exists:
// large binaries of the desktop root that nothing runs (a running
// program's mapped pages survive drop_caches).
var largeFiles = []string{"/usr/bin/ctr", "/usr/bin/containerd-shim-runc-v1", "/usr/sbin/dockerd"}

const (
	engineSocket = "/run/docker.sock"
	engineWait   = 15 * time.Minute
	settle       = 10 * time.Second // after the engine answers: let the boot's stragglers finish
)

func main() {
	rounds := 2
	if len(os.Args) > 1 {
		if n, err := strconv.Atoi(os.Args[1]); err == nil && n > 0 {
			rounds = n
		}
	}
	if err := run(rounds); err != nil {
		fmt.Printf("hardening-bench: FAIL %v\n", err)
		os.Exit(1)
	}
	fmt.Println("hardening-bench: done")
}

func run(rounds int) error {
	if err := waitEngine(engineWait); err != nil {
		return err
	}
	time.Sleep(settle)
	file := ""
	for _, f := range largeFiles {
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
			file = f
			break
		}
	}
	if file == "" {
		return fmt.Errorf("none of %v in the root", largeFiles)
	}
	// Once untimed, after a first drop of the caches: the host then
	// serves the guest's disk reads from its page cache, so the samples
	// time the guest (its block layer, dm-verity, EROFS), not the host's
	// disk and its other tenants; and the engine's processes have paged
	// back in what the first drop took from them (the first sample after
	// the boot's first drop took 5–14 s against 0.4–2.4 s for later ones).
	if err := dropCaches(); err != nil {
		return err
	}
	if _, err := readAll(file); err != nil {
		return err
	}
	if _, err := walk("/usr"); err != nil {
		return err
	}
	time.Sleep(settle)
	for range rounds {
		if err := dropCaches(); err != nil {
			return err
		}
		start := time.Now()
		n, err := readAll(file)
		if err != nil {
			return err
		}
		fmt.Printf("hardening-bench: read %s %d %.3f\n", file, n, time.Since(start).Seconds())
		if err := dropCaches(); err != nil {
			return err
		}
		start = time.Now()
		entries, err := walk("/usr")
		if err != nil {
			return err
		}
		fmt.Printf("hardening-bench: walk /usr %d %.3f\n", entries, time.Since(start).Seconds())
	}
	return nil
}

// waitEngine polls the engine's /_ping until it answers 200.
func waitEngine(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ping()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the engine did not answer within %v: %v", timeout, err)
		}
		time.Sleep(2 * time.Second)
	}
}

func ping() error {
	c, err := net.DialTimeout("unix", engineSocket, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /_ping HTTP/1.0\r\nHost: localhost\r\n\r\n"); err != nil {
		return err
	}
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if f := strings.Fields(status); len(f) < 2 || f[1] != "200" {
		return fmt.Errorf("GET /_ping: %q", strings.TrimSpace(status))
	}
	return nil
}

// dropCaches writes back dirty pages, then drops the page cache and the
// dentry and inode caches, so that what is timed next reads the disk.
func dropCaches() error {
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0); err != nil {
		return fmt.Errorf("dropping caches: %w", err)
	}
	return nil
}

func readAll(name string) (int64, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, make([]byte, 1<<20))
}

// walk lstats every entry under dir, as find -exec stat does.
func walk(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if _, err := os.Lstat(p); err != nil {
			return err
		}
		n++
		return nil
	})
	return n, err
}
