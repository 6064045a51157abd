package ingest

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
)

// TestIdentityMismatchRejected is the hub's second wall behind the
// broker's ACL: a message whose payload names another site or edge than
// its topic (an edge that got past a lax broker, or a forged payload on an
// edge's own topic) is rejected as identity, counted, acknowledged (the
// broker must not send it again) and neither stored nor taken as a sign
// of life of the edge it names; the next good message goes through.
func TestIdentityMismatchRejected(t *testing.T) {
	st := &memStore{}
	in, s := newTestIngest(t, st)
	runWriter(t, in)
	now := time.Now().UTC()
	ts := now.Format(time.RFC3339Nano)
	header := func(site, edge string) string {
		return fmt.Sprintf(`"v":1,"id":"forged-%s-%s-%d","site":%q,"edge":%q,"ts":%q`, site, edge, time.Now().UnixNano(), site, edge, ts)
	}
	p := contract.DefaultPrefix
	forged := []struct{ name, topic, payload string }{
		{"reading as another edge of the site", contract.TelemetryTopic(p, "tw01", "tw01-e1", "cr1-th"),
			`{` + header("tw01", "tw01-e2") + `,"device":"cr1-th","room":"cr1","fields":{"temperature":-30}}`},
		{"reading as another site", contract.TelemetryTopic(p, "tw01", "tw01-e1", "cr1-th"),
			`{` + header("tw05", "tw01-e1") + `,"device":"cr1-th","room":"cr1","fields":{"temperature":-30}}`},
		{"another site's reading on its topic", contract.TelemetryTopic(p, "tw05", "tw05-e1", "cr1-th"),
			`{` + header("tw01", "tw01-e1") + `,"device":"cr1-th","room":"cr1","fields":{"temperature":-30}}`},
		{"parcel scan as another edge", contract.EventTopic(p, "tw01", "tw01-e1", "s1"),
			`{` + header("tw01", "tw01-e2") + `,"kind":"sorted","station":"s1","waybill":"SF1234567890123","route":"r1","bin":"b1","rule":"manifest","plan_version":"1"}`},
		{"parcel scan as another site", contract.EventTopic(p, "tw01", "tw01-e1", "s1"),
			`{` + header("tw05", "tw05-e1") + `,"kind":"sorted","station":"s1","waybill":"SF1234567890123","route":"r1","bin":"b1","rule":"manifest","plan_version":"1"}`},
		{"status of another edge", contract.StatusTopic(p, "tw01", "tw01-e1"),
			`{` + header("tw01", "tw01-e2") + `,"state":"online"}`},
		{"result as another edge", contract.ResultTopic(p, "tw01", "tw01-e1"),
			`{` + header("tw01", "tw01-e2") + `,"command":"hub-1","ok":true}`},
	}
	var acks atomic.Int64
	for _, f := range forged {
		in.Handle(f.topic, []byte(f.payload), false, now, func() { acks.Add(1) })
	}
	good := telemetry("tw01-e1-1-1", "tw01", now, now, 2.5)
	in.Handle(contract.TelemetryTopic(p, "tw01", "tw01-e1", "cr1-th"), []byte(good), false, now, func() { acks.Add(1) })
	waitCount(t, st, 1)
	waitFor(t, "every message acknowledged", func() bool { return acks.Load() == int64(len(forged)+1) })

	if got := in.Stats().Rejected[contract.ReasonIdentity]; got != uint64(len(forged)) {
		t.Errorf("identity rejections %d, want %d", got, len(forged))
	}
	st.mu.Lock()
	stored, events := st.readings, len(st.events)
	st.mu.Unlock()
	if len(stored) != 1 || stored[0].Fields["temperature"] != 2.5 || events != 0 {
		t.Errorf("stored %d readings (%v), %d events; want the good reading only", len(stored), stored, events)
	}
	for _, e := range [][2]string{{"tw01", "tw01-e2"}, {"tw05", "tw01-e1"}, {"tw05", "tw05-e1"}} {
		if es, ok := s.Edge(e[0], e[1]); ok {
			t.Errorf("edge %s of %s known (%+v): a forged message was taken as its sign of life", e[1], e[0], es)
		}
	}
}
