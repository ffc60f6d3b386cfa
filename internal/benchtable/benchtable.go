// Package benchtable turns `go test -bench` output into the one table
// `make bench` prints: a line per pair of ours against a peer, measured
// side by side in the same run, with the ratio and the target.
//
// A benchmark takes part by the metrics it reports (the convention every
// pair benchmark follows), one sub-benchmark per table line, named for the
// line:
//
//	b.ReportMetric(ours, "ours-<unit>")   // e.g. ours-s, ours-MiB, ours-MB
//	b.ReportMetric(peer, "peer-<unit>")   // the peer, same unit
//	b.ReportMetric(ours/peer, "ratio")    // by convention; the table computes it
//	b.ReportMetric(1.10, "target-ratio-<unit>") // optional: ours/peer ≤ this
//	b.ReportMetric(8, "target-<unit>")    // optional: ours must be ≤ this
//
// A line with several units (time and size, say) gets a row per unit,
// each with its ratio ours/peer computed from the two values (so a
// benchmark's own "ratio", which some report the other way round, never
// disagrees with the row). `go test` prints metrics sorted by unit, so
// a ratio target names its unit; a plain "target-ratio" is accepted on a
// line of one unit. A line with ours and a target but no peer is
// an absolute target (a row with "—" for the peer). Other benchmarks
// and metrics are ignored. Only the text format of `go test -bench` is
// read (not -json): "pkg:" lines and result lines.
package benchtable

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Result is one benchmark line of `go test -bench` output.
type Result struct {
	Pkg     string
	Name    string // without the "Benchmark" prefix and the -GOMAXPROCS suffix
	Metrics []Metric
}

// Metric is one value and unit of a result, in output order.
type Metric struct {
	Value float64
	Unit  string
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// Parse reads `go test -bench` text output; lines that are not results
// are skipped.
func Parse(r io.Reader) ([]Result, error) {
	var out []Result
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // "BenchmarkX  --- FAIL", a log line
		}
		res := Result{Pkg: pkg, Name: procsSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchtable: %s: metric %q is not a number", f[0], f[i])
			}
			res.Metrics = append(res.Metrics, Metric{v, f[i+1]})
		}
		out = append(out, res)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("benchtable: reading benchmark output: %w", err)
	}
	return out, nil
}

// Row is one line of the table.
type Row struct {
	Line       string // the sub-benchmark's name
	Unit       string
	Ours, Peer float64 // Peer is NaN when the line has no peer
	Ratio      float64 // NaN without a peer
	// Target is the bound (of Ratio when TargetRatio, else of Ours), NaN
	// when there is none.
	Target      float64
	TargetRatio bool
}

// Met reports whether the row meets its target; true without one.
func (r Row) Met() bool {
	switch {
	case math.IsNaN(r.Target):
		return true
	case r.TargetRatio:
		return r.Ratio <= r.Target
	}
	return r.Ours <= r.Target
}

// Rows picks the pair benchmarks out of results, in output order.
func Rows(results []Result) []Row {
	var rows []Row
	for _, res := range results {
		m := map[string]float64{}
		var units []string
		for _, x := range res.Metrics {
			m[x.Unit] = x.Value
			if u, ok := strings.CutPrefix(x.Unit, "ours-"); ok {
				units = append(units, u)
			}
		}
		for _, u := range units {
			row := Row{Line: res.Name, Unit: u, Ours: m["ours-"+u], Peer: math.NaN(), Ratio: math.NaN(), Target: math.NaN()}
			if p, ok := m["peer-"+u]; ok {
				row.Peer, row.Ratio = p, row.Ours/p
			}
			if t, ok := m["target-"+u]; ok {
				row.Target = t
			} else if t, ok := m["target-ratio-"+u]; ok && !math.IsNaN(row.Ratio) {
				row.Target, row.TargetRatio = t, true
			} else if t, ok := m["target-ratio"]; ok && len(units) == 1 && !math.IsNaN(row.Ratio) {
				row.Target, row.TargetRatio = t, true
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// Write prints rows as a Markdown table (it reads as plain text too).
func Write(w io.Writer, rows []Row) error {
	cells := [][]string{{"line", "unit", "ours", "peer", "ratio", "target", "met"}}
	for _, r := range rows {
		target, met := "—", ""
		if !math.IsNaN(r.Target) {
			target = "ours ≤ " + num(r.Target)
			if r.TargetRatio {
				target = "ratio ≤ " + num(r.Target)
			}
			met = "yes"
			if !r.Met() {
				met = "NO"
			}
		}
		cells = append(cells, []string{r.Line, r.Unit, num(r.Ours), num(r.Peer), num(r.Ratio), target, met})
	}
	width := make([]int, len(cells[0]))
	for _, c := range cells {
		for i, s := range c {
			width[i] = max(width[i], len([]rune(s)))
		}
	}
	var b strings.Builder
	for n, c := range cells {
		b.WriteString("|")
		for i, s := range c {
			fmt.Fprintf(&b, " %s%s |", s, strings.Repeat(" ", width[i]-len([]rune(s))))
		}
		b.WriteString("\n")
		if n == 0 {
			b.WriteString("|")
			for i := range c {
				b.WriteString(strings.Repeat("-", width[i]+2) + "|")
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// num prints a value with three significant digits (all the integer
// digits from 100 on), "—" for NaN.
func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
