package agent

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
)

func TestClockWatch(t *testing.T) {
	c := newClockWatch()
	if d := c.check(time.Now(), 3); d != 0 {
		t.Fatalf("a steady clock stepped by %v", d)
	}
	if d := c.observe(500*time.Millisecond, 5); d != 0 {
		t.Fatalf("NTP slewing taken for a step: %v", d)
	}
	// NTP steps the clock three days forward after message 20, then one
	// minute back after message 30.
	if d := c.observe(72*time.Hour, 20); d != 72*time.Hour {
		t.Fatalf("step %v", d)
	}
	if d := c.observe(72*time.Hour-time.Minute, 30); d != -time.Minute {
		t.Fatalf("second step %v", d)
	}
	for _, tc := range []struct {
		seq  uint64
		want time.Duration
	}{
		{15, 72*time.Hour - time.Minute}, // stamped with the boot-time clock
		{20, 72*time.Hour - time.Minute},
		{25, -time.Minute}, // between the steps
		{31, 0},            // after both
	} {
		if got := c.shift(tc.seq); got != tc.want {
			t.Errorf("shift(%d) = %v, want %v", tc.seq, got, tc.want)
		}
	}
}

func TestFixTSAndMessageSeq(t *testing.T) {
	ts := time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC)
	b, _ := json.Marshal(contract.Telemetry{Header: contract.Header{V: 1, ID: "tw01-e1-7-42", Site: "s", Edge: "tw01-e1", TS: ts},
		Device: "d", Fields: map[string]float64{"t": 1}})
	boot, seq, ok := messageSeq(b)
	if !ok || boot != 7 || seq != 42 {
		t.Fatalf("messageSeq = %d %d %v", boot, seq, ok)
	}
	out := fixTS(b, 72*time.Hour)
	tp, _ := contract.ParseTopic("p", "p/s/tw01-e1/telemetry/d")
	m, err := contract.DecodeTelemetry(tp, stampSent(out, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if !m.TS.Equal(ts.Add(72 * time.Hour)) {
		t.Fatalf("ts %v", m.TS)
	}
	if _, _, ok := messageSeq([]byte(`{"v":1,"id":"noseq"}`)); ok {
		t.Fatal("id without boot and seq parsed")
	}
}
