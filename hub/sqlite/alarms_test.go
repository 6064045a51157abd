package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/countylink/countylink/hub"
)

func TestAlarmRecordsAndHistory(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	row := hub.AlarmRow{ID: "a1", Site: "tw01", Room: "cr1", Edge: "tw01-e1", Source: "cr1", Kind: "high", Severity: "critical",
		State: "active", Raised: t0, Updated: t0, Record: []byte(`{"id":"a1","state":"active"}`)}
	if err := db.SaveAlarmChanges(ctx, []hub.AlarmChange{{Alarm: row, At: t0, Event: "raised"}}); err != nil {
		t.Fatal(err)
	}
	row.State, row.Updated, row.Record = "acknowledged", t0.Add(time.Minute), []byte(`{"id":"a1","state":"acknowledged"}`)
	if err := db.SaveAlarmChanges(ctx, []hub.AlarmChange{{Alarm: row, At: t0.Add(time.Minute), Event: "acknowledged", By: "王芳"}}); err != nil {
		t.Fatal(err)
	}
	other := hub.AlarmRow{ID: "a2", Site: "tw02", Room: "cr1", Edge: "tw02-e1", Source: "cr1", Kind: "low", Severity: "major",
		State: "cleared", Raised: t0.Add(-time.Hour), Updated: t0, Record: []byte(`{}`)}
	if err := db.SaveAlarmChanges(ctx, []hub.AlarmChange{{Alarm: other, At: t0, Event: "cleared"}}); err != nil {
		t.Fatal(err)
	}
	pending, err := db.Alarms(ctx, hub.AlarmFilter{States: []string{"active", "acknowledged"}})
	if err != nil || len(pending) != 1 || pending[0].ID != "a1" || pending[0].State != "acknowledged" || string(pending[0].Record) != `{"id":"a1","state":"acknowledged"}` {
		t.Fatalf("open alarms %+v %v", pending, err)
	}
	all, err := db.Alarms(ctx, hub.AlarmFilter{})
	if err != nil || len(all) != 2 || all[0].ID != "a1" {
		t.Fatalf("all alarms, newest first: %+v %v", all, err)
	}
	if got, _ := db.Alarms(ctx, hub.AlarmFilter{Site: "tw02"}); len(got) != 1 || got[0].ID != "a2" {
		t.Fatalf("tw02: %+v", got)
	}
	h, err := db.AlarmHistory(ctx, "a1")
	if err != nil || len(h) != 2 || h[0].Event != "raised" || h[1].Event != "acknowledged" || h[1].By != "王芳" || !h[1].At.Equal(t0.Add(time.Minute)) {
		t.Fatalf("history %+v %v", h, err)
	}
}

func TestKVAndTemperatures(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	if v, err := db.Get(ctx, "alarm-engine"); v != nil || err != nil {
		t.Fatalf("empty kv: %q %v", v, err)
	}
	db.Put(ctx, "alarm-engine", []byte("one"))
	db.Put(ctx, "alarm-engine", []byte("two"))
	if v, _ := db.Get(ctx, "alarm-engine"); string(v) != "two" {
		t.Fatalf("kv %q", v)
	}
	t0 := time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	var rs []*hub.Reading
	for i := range 5 {
		rs = append(rs,
			&hub.Reading{Site: "tw01", Edge: "tw01-e1", Device: "cr1-th", Room: "cr1", TS: t0.Add(time.Duration(i) * time.Minute), Fields: map[string]float64{"temperature": float64(i), "humidity": 80}},
			&hub.Reading{Site: "tw01", Edge: "tw01-e1", Device: "cr1-ctl", Room: "cr1", TS: t0.Add(time.Duration(i)*time.Minute + time.Second), Fields: map[string]float64{"temperature": 10 + float64(i)}},
			&hub.Reading{Site: "tw01", Edge: "tw01-e1", Device: "cr2-th", Room: "cr2", TS: t0.Add(time.Duration(i) * time.Minute), Fields: map[string]float64{"temperature": -20}})
	}
	if err := db.WriteReadings(ctx, rs); err != nil {
		t.Fatal(err)
	}
	got, err := db.Temperatures(ctx, "tw01", "cr1", "cr1-th", t0.Add(time.Minute), t0.Add(3*time.Minute))
	if err != nil || len(got) != 3 || got[0].Value != 1 || got[2].Value != 3 {
		t.Fatalf("cr1-th 1..3 min: %+v %v", got, err)
	}
	if all, _ := db.Temperatures(ctx, "tw01", "cr1", "", t0, t0.Add(time.Hour)); len(all) != 10 {
		t.Fatalf("every probe of cr1: %d samples", len(all))
	}
	if devs, err := db.RoomDevices(ctx, "tw01", "cr1", "temperature", t0, t0.Add(time.Hour)); err != nil || len(devs) != 2 || devs[0] != "cr1-ctl" || devs[1] != "cr1-th" {
		t.Fatalf("devices of cr1: %v %v", devs, err)
	}
}
