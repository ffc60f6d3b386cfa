// Command bench is `make bench`: it runs the benchmarks side by side with
// their peers in one `go test -bench` run and prints one table, a line per
// pair with its ratio and target, headed by the date and the machine (see
// internal/benchtable for the metrics a pair benchmark reports).
//
//	go run ./test/bench [-bench REGEXP] [-benchtime 1x] [PACKAGES]
//
// The benchmarks' own output goes to stderr as it comes; the table goes to
// stdout. The exit status is go test's.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/hardenvm/hardenvm/internal/benchtable"
)

func main() {
	bench := flag.String("bench", ".", "benchmarks to run (go test -bench)")
	benchtime := flag.String("benchtime", "1x", "go test -benchtime")
	timeout := flag.Duration("timeout", 90*time.Minute, "bound on the whole run (go test -timeout)")
	flag.Parse()
	pkgs := flag.Args()
	if len(pkgs) == 0 {
		pkgs = []string{"./..."}
	}
	load := loadAverage()
	start := time.Now().UTC()
	var out bytes.Buffer
	cmd := exec.Command("go", append([]string{"test", "-run", "^$", "-bench", *bench, "-benchtime", *benchtime,
		"-timeout", timeout.String()}, pkgs...)...)
	cmd.Stdout = io.MultiWriter(os.Stderr, &out)
	cmd.Stderr = os.Stderr
	runErr := cmd.Run()
	res, err := benchtable.Parse(&out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Printf("\nhardenvm benchmarks, %s (took %v); %s; load average %s at the start, %s at the end\n\n",
		start.Format("2006-01-02 15:04 UTC"), time.Since(start).Round(time.Second), machine(), load, loadAverage())
	if err := benchtable.Write(os.Stdout, benchtable.Rows(res)); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if runErr != nil {
		fmt.Fprintln(os.Stderr, "bench: go test:", runErr)
		os.Exit(1)
	}
}

// machine names the CPU, its count and the kernel.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "?"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%s, %d CPUs, Linux %s", model, runtime.NumCPU(), kernel)
}

// loadAverage is the 1-minute load average, "?" when unknown.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}
