package ingest

import (
	"fmt"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
)

// TestFloodDoesNotStarve: one edge sends 5,000 readings taken within the
// same second, another its usual few among them. The flooding edge's
// readings beyond its rate are dropped and counted for it alone; every
// reading of the other edge is stored; a backlog replayed all at once is
// never dropped, whether from an hour ago or from the last minute (its
// readings are as far apart in time as when they were taken); the drops
// are reported once for the coordinator's alarm.
func TestFloodDoesNotStarve(t *testing.T) {
	st := &memStore{}
	in, _ := newTestIngest(t, st)
	in.cfg.EdgeRate, in.cfg.EdgeBurst = 100, 200
	runWriter(t, in)
	now := time.Now()
	const flood, calm = 5000, 20
	for i := range flood {
		in.Handle(contract.TelemetryTopic(contract.DefaultPrefix, "tw01", "tw01-e1", "cr1-th"),
			[]byte(telemetry(fmt.Sprintf("tw01-e1-1-%d", i), "tw01", now, now, 2.5)), false, now, nil)
		if i%(flood/calm) == 0 {
			id := fmt.Sprintf("tw05-e1-1-%d", i)
			in.Handle(contract.TelemetryTopic(contract.DefaultPrefix, "tw05", "tw05-e1", "cr1-th"),
				[]byte(telemetry(id, "tw05", now, now, 3)), false, now, nil)
		}
	}
	// A backlog from an hour ago, replayed as fast: all kept.
	old := now.Add(-time.Hour)
	for i := range 1000 {
		in.Handle(contract.TelemetryTopic(contract.DefaultPrefix, "tw05", "tw05-e1", "cr1-th"),
			[]byte(telemetry(fmt.Sprintf("tw05-e1-0-%d", i), "tw05", old.Add(time.Duration(i)*time.Second), now, 3)), false, now, nil)
	}
	// The last minute's backlog of another edge, 50 readings a second,
	// replayed at once.
	for i := range 3000 {
		ts := now.Add(-time.Minute + time.Duration(i)*20*time.Millisecond)
		b, _ := contract.Encode(contract.Telemetry{
			Header: contract.Header{V: 1, ID: fmt.Sprintf("tw05-e2-0-%d", i), Site: "tw05", Edge: "tw05-e2", TS: ts, Sent: now},
			Device: "cr1-th", Room: "cr1", Fields: map[string]float64{"temperature": 3}})
		in.Handle(contract.TelemetryTopic(contract.DefaultPrefix, "tw05", "tw05-e2", "cr1-th"), b, false, now, nil)
	}
	// The flooding edge had its burst and nothing more.
	waitCount(t, st, 200+calm+1000+3000)
	time.Sleep(50 * time.Millisecond)
	byEdge := map[string]int{}
	st.mu.Lock()
	for _, r := range st.readings {
		byEdge[r.Edge]++
	}
	st.mu.Unlock()
	if byEdge["tw05-e1"] != calm+1000 || byEdge["tw01-e1"] != 200 || byEdge["tw05-e2"] != 3000 {
		t.Errorf("stored per edge %v, want tw05-e1 %d, tw05-e2 3000 and tw01-e1 200", byEdge, calm+1000)
	}
	tr := in.Traffic()
	if len(tr) != 3 || tr[0].Edge != "tw01-e1" || tr[0].Dropped != flood-200 || tr[0].Received != flood || tr[1].Dropped != 0 {
		t.Errorf("traffic %+v", tr)
	}
	var reports []string
	report := func(site, edge string, dropped uint64, _ time.Time) {
		reports = append(reports, fmt.Sprintf("%s/%s %d", site, edge, dropped))
	}
	in.traffic.report(now, report)
	in.traffic.report(now, report) // nothing new
	if len(reports) != 1 || reports[0] != fmt.Sprintf("tw01/tw01-e1 %d", flood-200) {
		t.Errorf("reports %v", reports)
	}
	// Garbage from the same edge counts as rejected for it.
	in.Handle(contract.TelemetryTopic(contract.DefaultPrefix, "tw01", "tw01-e1", "cr1-th"), []byte("{"), false, now, nil)
	if tr := in.Traffic(); tr[0].Rejected != 1 {
		t.Errorf("rejected %+v", tr[0])
	}
}

func TestTokenBucket(t *testing.T) {
	var c edgeCount
	t0 := time.Unix(1000, 0)
	n := 0
	for i := range 100 { // 100 readings taken in 1 s, at 10/s with a burst of 5
		if c.allow(t0.Add(time.Duration(i)*10*time.Millisecond), 10, 5) {
			n++
		}
	}
	if n < 14 || n > 15 {
		t.Errorf("%d allowed in a second at 10/s with a burst of 5", n)
	}
}
