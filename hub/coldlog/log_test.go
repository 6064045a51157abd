package coldlog

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/countylink/countylink/hub"
)

func TestBuildProbes(t *testing.T) {
	p := hourParams()
	var asked []any
	src := SourceFunc(func(_ context.Context, site, room string, from, to time.Time) ([]Series, error) {
		asked = []any{site, room, from, to}
		return []Series{
			{"cr1-th", every(p.From, p.To, 5*time.Minute, 3)},
			{"cr1-ctl", every(p.From, p.To, 10*time.Second, 3.5)},
		}, nil
	})
	meta := hourMeta()
	meta.Expect = []string{"cr1-th", "cr1-spare"}
	l, err := Build(context.Background(), src, meta, p)
	if err != nil {
		t.Fatal(err)
	}
	if want := []any{"tw01", "cr1", p.From, p.To}; !reflect.DeepEqual(asked, want) {
		t.Errorf("asked for %v, want %v", asked, want)
	}
	var devices []string
	for _, pr := range l.Probes {
		devices = append(devices, pr.Device)
	}
	if want := []string{"cr1-ctl", "cr1-spare", "cr1-th"}; !reflect.DeepEqual(devices, want) {
		t.Fatalf("probes %v, want %v", devices, want)
	}
	ctl, spare, th := l.Probes[0], l.Probes[1], l.Probes[2]
	// The 10 s readings are recorded every 5 min: 08:00 to 08:55 and the
	// last raw reading, 08:59:50.
	if len(ctl.Log) != 13 || !ctl.Report.Compliant || ctl.Report.Mean != 3.5 {
		t.Errorf("cr1-ctl: %d log readings, report %+v", len(ctl.Log), ctl.Report)
	}
	if !spare.Report.NoData() || spare.Report.Compliant {
		t.Errorf("cr1-spare: %+v", spare.Report)
	}
	if th.Report.Count != 12 || !th.Report.Compliant {
		t.Errorf("cr1-th: %+v", th.Report)
	}
	if l.Compliant() {
		t.Error("a room with a silent probe is compliant")
	}
	if l.Params.MaxGap != DefaultMaxGap {
		t.Errorf("Params without defaults: %+v", l.Params)
	}
}

func TestBuildErrors(t *testing.T) {
	boom := errors.New("boom")
	failing := SourceFunc(func(context.Context, string, string, time.Time, time.Time) ([]Series, error) {
		return nil, boom
	})
	if _, err := Build(context.Background(), failing, hourMeta(), hourParams()); !errors.Is(err, boom) ||
		!strings.Contains(err.Error(), "tw01/cr1") {
		t.Errorf("source failure: %v", err)
	}
	bad := hourParams()
	bad.Low, bad.High = Limit(8), Limit(2)
	if _, err := Build(context.Background(), staticSource(), hourMeta(), bad); err == nil ||
		!strings.Contains(err.Error(), "low must not be above high") {
		t.Errorf("bad limits: %v", err)
	}
}

func TestForRoom(t *testing.T) {
	site := hub.Site{ID: "tw01", Name: "城关镇", NameEN: "Chengguan", Kind: hub.Township}
	room := hub.Room{ID: "cr2", Name: "2号冷库", NameEN: "Cold room 2", Class: "frozen", MinC: -30, MaxC: -18}
	m, p := ForRoom(site, room, at(0, 0, 0), at(0, 0, 0).AddDate(0, 0, 1))
	if m.Site != "tw01" || m.SiteName != "城关镇" || m.Room != "cr2" || m.RoomNameEN != "Cold room 2" || m.Class != "frozen" {
		t.Errorf("meta %+v", m)
	}
	if *p.Low != -30 || *p.High != -18 || !p.To.Equal(at(0, 0, 0).Add(24*time.Hour)) {
		t.Errorf("params %+v", p)
	}
}

// storeSample is a store's own sample type, as hub/sqlite has one.
type storeSample struct {
	TS    time.Time
	Value float64
}

// fakeDevices is a DeviceStore over a map of device to samples.
type fakeDevices struct {
	room    map[string][]storeSample
	asked   []string
	failFor string
}

func (f *fakeDevices) RoomDevices(_ context.Context, site, room, field string, from, to time.Time) ([]string, error) {
	f.asked = append(f.asked, "devices "+site+"/"+room+" "+field)
	var ds []string
	for d := range f.room {
		ds = append(ds, d)
	}
	return ds, nil
}

func (f *fakeDevices) Temperatures(_ context.Context, site, room, device string, from, to time.Time) ([]storeSample, error) {
	if device == f.failFor {
		return nil, errors.New("disk I/O error")
	}
	var out []storeSample
	for _, s := range f.room[device] {
		if !s.TS.Before(from) && !s.TS.After(to) { // both ends, as hub/sqlite does
			out = append(out, s)
		}
	}
	return out, nil
}

func TestFromDevices(t *testing.T) {
	p := hourParams()
	st := &fakeDevices{room: map[string][]storeSample{
		"cr1-th":  {{p.From, 3}, {at(8, 5, 0), 3.5}, {p.To, 9}},
		"cr1-ctl": {{at(8, 1, 0), 2}},
	}}
	src := FromDevices(st)
	series, err := src.RoomTemperatures(context.Background(), "tw01", "cr1", p.From, p.To)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]Sample{}
	for _, s := range series {
		got[s.Device] = s.Samples
	}
	want := map[string][]Sample{
		"cr1-th":  {{p.From, 3}, {at(8, 5, 0), 3.5}}, // the reading at To belongs to the next period
		"cr1-ctl": {{at(8, 1, 0), 2}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if len(st.asked) != 1 || st.asked[0] != "devices tw01/cr1 temperature" {
		t.Errorf("asked %v", st.asked)
	}
	st.failFor = "cr1-ctl"
	if _, err := src.RoomTemperatures(context.Background(), "tw01", "cr1", p.From, p.To); err == nil ||
		!strings.Contains(err.Error(), "device cr1-ctl: disk I/O error") {
		t.Errorf("failing device: %v", err)
	}
}
