// Package benchtable turns the output of `go test -bench` into the table
// `make bench` ends with: every benchmark's figures, and for those with a
// goal (a ratio against the baseline measured in the same run, or a bound)
// whether the run met it.
package benchtable

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Goal is a bound on one metric of a benchmark.
type Goal struct {
	Metric  string
	AtLeast bool // the metric must be ≥ Value; else ≤ Value
	Value   float64
}

func (g Goal) String() string {
	op := "≤"
	if g.AtLeast {
		op = "≥"
	}
	return fmt.Sprintf("%s %s %s", g.Metric, op, strconv.FormatFloat(g.Value, 'f', -1, 64))
}

// Met reports whether v meets the goal.
func (g Goal) Met(v float64) bool {
	if g.AtLeast {
		return v >= g.Value
	}
	return v <= g.Value
}

// Goals are the project's figures to reach (the issues'), by benchmark
// name without its -GOMAXPROCS suffix.
var Goals = map[string][]Goal{
	"BenchmarkReplay1M":         {{"ratio", true, 0.5}, {"agent-peak-RSS-MB", false, 40}, {"queue-disk-MB", false, 300}},
	"BenchmarkHubIngestVsBare":  {{"ratio", true, 0.9}, {"ack-after-store-ratio", true, 0.8}},
	"BenchmarkIngestTLS":        {{"ratio", true, 0.8}},
	"BenchmarkEdgeAgentRSS":     {{"agent-RSS-MB", false, 25}},
	"BenchmarkWallFirstRender":  {{"first-render-ms", false, 1500}},
	"BenchmarkAgentScanToLamp":  {{"p99-µs", false, 5000}},
	"BenchmarkScanToHubRelight": {{"p99-µs", false, 30000}},
}

// Result is one benchmark line: its name (without the -N suffix), its
// package when the output said, and its metrics by unit.
type Result struct {
	Name, Pkg string
	Metrics   map[string]float64
	Order     []string // the units in the order they came
}

// Parse reads `go test -bench` output (several packages' in a row, -v or
// not) and returns the benchmark lines in order.
func Parse(r io.Reader) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) >= 2 && (f[0] == "ok" || f[0] == "FAIL") {
			for i := range out {
				if out[i].Pkg == "" {
					out[i].Pkg = f[1]
				}
			}
			continue
		}
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.Atoi(f[1]); err != nil {
			continue // a -v "=== RUN" style line or a log line
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		res := Result{Name: name, Metrics: map[string]float64{}}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			res.Metrics[f[i+1]] = v
			res.Order = append(res.Order, f[i+1])
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

// Render writes the results as a Markdown table, and returns how many
// goals were missed.
func Render(w io.Writer, rs []Result) (missed int) {
	fmt.Fprintln(w, "| benchmark | figures | goal | |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, r := range rs {
		var figs []string
		units := r.Order
		if len(units) == 0 {
			units = sortedKeys(r.Metrics)
		}
		for _, u := range units {
			if u == "ns/op" && len(r.Order) > 3 {
				continue // an end-to-end benchmark's one iteration: its own figures say more
			}
			figs = append(figs, fmt.Sprintf("%s %s", format(r.Metrics[u]), u))
		}
		goals, verdicts := []string{}, []string{}
		for _, g := range Goals[r.Name] {
			goals = append(goals, g.String())
			v, ok := r.Metrics[g.Metric]
			switch {
			case !ok:
				verdicts = append(verdicts, "not measured")
				missed++
			case g.Met(v):
				verdicts = append(verdicts, "met")
			default:
				verdicts = append(verdicts, "MISSED")
				missed++
			}
		}
		if len(goals) == 0 {
			goals, verdicts = []string{"reported"}, []string{""}
		}
		name := strings.TrimPrefix(r.Name, "Benchmark")
		if r.Pkg != "" {
			name += " (" + r.Pkg[strings.LastIndexByte(r.Pkg, '/')+1:] + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", name, strings.Join(figs, ", "), strings.Join(goals, "; "), strings.Join(verdicts, "; "))
	}
	return missed
}

func format(v float64) string {
	switch {
	case v >= 100 || v == float64(int64(v)):
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

func sortedKeys(m map[string]float64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
