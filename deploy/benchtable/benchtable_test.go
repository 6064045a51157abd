package benchtable

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkHandle-2   	  264890	      4483 ns/op	    1608 B/op	      33 allocs/op
PASS
ok  	github.com/countylink/countylink/hub/ingest	3.1s
=== RUN   BenchmarkHubIngestVsBare
BenchmarkHubIngestVsBare
    bench_ingest_test.go:367: hub draining ...
BenchmarkHubIngestVsBare-2     	       1	22409051191 ns/op	     49064 bare-msg/s	     44648 hub-auto-ack-msg/s	     51997 hub-msg/s	         1.060 ratio	         1.165 ack-after-store-ratio
BenchmarkIngestTLS-2     	       1	2240905 ns/op	     100 tls-acl-msg/s	     200 tcp-msg/s	         0.5 ratio
ok  	github.com/countylink/countylink/deploy/e2e	42.045s
`

func TestTable(t *testing.T) {
	rs, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 || rs[0].Name != "BenchmarkHandle" || rs[0].Pkg != "github.com/countylink/countylink/hub/ingest" ||
		rs[1].Metrics["ratio"] != 1.06 || rs[1].Pkg != "github.com/countylink/countylink/deploy/e2e" {
		t.Fatalf("parsed %+v", rs)
	}
	var b bytes.Buffer
	if missed := Render(&b, rs); missed != 1 {
		t.Errorf("missed %d, want 1 (the TLS ratio 0.5)\n%s", missed, b.String())
	}
	out := b.String()
	for _, want := range []string{
		"| Handle (ingest) | 4483 ns/op, 1608 B/op, 33 allocs/op | reported |  |",
		"| HubIngestVsBare (e2e) | 49064 bare-msg/s, 44648 hub-auto-ack-msg/s, 51997 hub-msg/s, 1.06 ratio, 1.17 ack-after-store-ratio | ratio ≥ 0.9; ack-after-store-ratio ≥ 0.8 | met; met |",
		"| ratio ≥ 0.8 | MISSED |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
