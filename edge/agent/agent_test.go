package agent

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
)

func TestStampSent(t *testing.T) {
	ts := time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)
	b, _ := json.Marshal(contract.Telemetry{Header: contract.Header{V: 1, ID: "e-1-1", Site: "s", Edge: "e", TS: ts},
		Device: "d", Fields: map[string]float64{"t": 1}})
	sent := ts.Add(90 * time.Second)
	out := stampSent(b, sent)
	tp, _ := contract.ParseTopic("p", "p/s/e/telemetry/d")
	m, err := contract.DecodeTelemetry(tp, out)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Sent.Equal(sent) || !m.TS.Equal(ts) {
		t.Fatalf("sent %v ts %v", m.Sent, m.TS)
	}
}

func TestBootCounter(t *testing.T) {
	dir := t.TempDir()
	for want := uint64(1); want <= 3; want++ {
		got, err := nextBoot(dir)
		if err != nil || got != want {
			t.Fatalf("boot %d: got %d, %v", want, got, err)
		}
	}
	os.WriteFile(filepath.Join(dir, "boot"), []byte("garbage"), 0o600)
	if _, err := nextBoot(dir); err == nil {
		t.Fatal("damaged counter accepted")
	}
}
