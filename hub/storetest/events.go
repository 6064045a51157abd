package storetest

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/manifest"
	"github.com/countylink/countylink/hub/timeline"
)

var t0 = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

func testEvent(id, site, kind string, ts time.Time, weight *float64, exception string) *hub.ParcelEvent {
	e := &hub.ParcelEvent{ID: id, Site: site, Edge: site + "-e1", Station: "st1", Kind: kind, Waybill: "SF" + id,
		Carrier: "sf", Route: "r3", Bin: "b3", Rule: "manifest", PlanVersion: "2026-11-29.1", WeightKg: weight,
		TS: ts, Recv: ts.Add(time.Second)}
	if exception != "" {
		e.Route, e.Bin, e.Rule, e.Exception, e.WeighError = "", "x", "none", exception, "scale: weight not stable"
	}
	return e
}

func kg(v float64) *float64 { return &v }

func testSaveEventsIdempotent(t *testing.T, db Store) {
	ctx := context.Background()
	evs := []*hub.ParcelEvent{
		testEvent("e1-1-1", "tw01", "sorted", t0, kg(1.25), ""),
		testEvent("e1-1-2", "tw01", "sorted", t0.Add(time.Second), nil, "unknown"),
		testEvent("e1-1-3", "tw01", "confirmed", t0.Add(2*time.Second), nil, ""),
	}
	evs[0].ClockFault, evs[0].Run, evs[0].By, evs[0].Note = "skew", "run-1", "王芳", "箱子破了"
	evs[0].Producer, evs[0].Product, evs[0].Grade = "张三", "苹果", "A"
	stored, err := db.SaveEvents(ctx, evs)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 3 {
		t.Fatalf("first save stored %d, want 3", len(stored))
	}
	// Re-delivered, with one new event among them (and twice in the
	// batch): only the new one is stored, once.
	again := append(evs, testEvent("e1-1-4", "tw01", "sorted", t0.Add(3*time.Second), kg(2), ""), nil)
	again = append(again, again[3])
	changed := *evs[0]
	changed.Bin = "b9" // a re-sent id never replaces what is stored
	again[0] = &changed
	stored, err = db.SaveEvents(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 || stored[0].ID != "e1-1-4" {
		t.Fatalf("second save stored %v, want only e1-1-4", stored)
	}
	if got, _ := db.Events(ctx, hub.EventQuery{Limit: 100}); len(got) != 4 {
		t.Fatalf("%d events, want 4", len(got))
	}
	got, err := db.Events(ctx, hub.EventQuery{Waybill: "SFe1-1-1"})
	if err != nil || len(got) != 1 {
		t.Fatalf("by waybill: %v %v", got, err)
	}
	if !reflect.DeepEqual(got[0], evs[0]) {
		t.Errorf("read back %+v\nwant %+v", *got[0], *evs[0])
	}
	got, _ = db.Events(ctx, hub.EventQuery{Waybill: "SFe1-1-2"})
	if len(got) != 1 || got[0].WeightKg != nil || got[0].Exception != "unknown" || got[0].WeighError == "" {
		t.Errorf("event without weight read back as %+v", got)
	}
	if stored, err := db.SaveEvents(ctx, nil); err != nil || len(stored) != 0 {
		t.Errorf("no events: %v, %v", stored, err)
	}
}

func testEventsQuery(t *testing.T, db Store) {
	ctx := context.Background()
	var evs []*hub.ParcelEvent
	for i := range 30 {
		site := []string{"tw01", "tw02", "tw03"}[i%3]
		evs = append(evs, testEvent(fmt.Sprintf("e-%02d", i), site, "sorted", t0.Add(time.Duration(i)*time.Minute), kg(1), ""))
	}
	// Two events in the same millisecond: the id breaks the tie.
	evs = append(evs, testEvent("e-99", "tw01", "confirmed", evs[27].TS, nil, ""))
	if _, err := db.SaveEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	ids := func(evs []*hub.ParcelEvent) []string {
		out := []string{}
		for _, e := range evs {
			out = append(out, e.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    hub.EventQuery
		want []string
	}{
		{"site newest first", hub.EventQuery{Site: "tw01", Limit: 4}, []string{"e-99", "e-27", "e-24", "e-21"}},
		{"all sites", hub.EventQuery{Limit: 3}, []string{"e-29", "e-28", "e-99"}},
		{"before", hub.EventQuery{Site: "tw02", Before: t0.Add(7 * time.Minute), Limit: 10}, []string{"e-04", "e-01"}},
		{"unknown site", hub.EventQuery{Site: "tw09", Limit: 10}, []string{}},
		{"waybill", hub.EventQuery{Waybill: "SFe-05"}, []string{"e-05"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.Events(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ids(got), tc.want) {
				t.Errorf("got %v, want %v", ids(got), tc.want)
			}
		})
	}
	if got, _ := db.Events(ctx, hub.EventQuery{Limit: 10_000}); len(got) != 31 {
		t.Errorf("no limit: %d events", len(got))
	}
}

func testParcelTotals(t *testing.T, db Store) {
	ctx := context.Background()
	day := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	evs := []*hub.ParcelEvent{
		testEvent("y", "tw01", "sorted", day.Add(-time.Millisecond), kg(100), ""), // yesterday
		testEvent("a", "tw01", "sorted", day, kg(1.25), ""),
		testEvent("b", "tw01", "sorted", day.Add(time.Hour), nil, "unknown"),
		testEvent("c", "tw01", "confirmed", day.Add(2*time.Hour), kg(7), ""), // a confirmation's weight is not counted again
		testEvent("d", "tw02", "sorted", day.Add(3*time.Hour), kg(2.5), "no_bin"),
		testEvent("z", "tw02", "sorted", day.Add(24*time.Hour), kg(100), ""), // tomorrow
	}
	if _, err := db.SaveEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	got, err := db.ParcelTotals(ctx, day, day.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]hub.ParcelTotals{
		"tw01": {Sorted: 2, Confirmed: 1, Exceptions: 1, WeightKg: 1.25, Last: day.Add(2 * time.Hour)},
		"tw02": {Sorted: 1, Exceptions: 1, WeightKg: 2.5, Last: day.Add(3 * time.Hour)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	// The store's count and the one kept event by event agree.
	byAdd := map[string]hub.ParcelTotals{}
	for _, e := range evs[1:5] {
		tot := byAdd[e.Site]
		tot.Add(e)
		byAdd[e.Site] = tot
	}
	if !reflect.DeepEqual(byAdd, want) {
		t.Errorf("ParcelTotals.Add gives %+v\nwant %+v", byAdd, want)
	}
	if got, err := db.ParcelTotals(ctx, day.AddDate(0, 0, 5), day.AddDate(0, 0, 6)); err != nil || len(got) != 0 {
		t.Errorf("a day without events: %+v, %v", got, err)
	}
}

func testManifestIdempotent(t *testing.T, db Store) {
	ctx := context.Background()
	b := batch(t, manifestCSV)
	first, err := db.SaveManifest(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if first.Inserted != 3 || first.Updated != 0 || first.Unchanged != 0 || first.Repeat || first.Report.Accepted != 3 {
		t.Fatalf("first import %+v", first)
	}
	before, err := db.ManifestForSite(ctx, "tw01", 0, 0)
	if err != nil || len(before) != 3 {
		t.Fatalf("announced %+v, %v", before, err)
	}

	// The same manifest again, even from a file saved with a BOM and CRLF
	// under another name: nothing changes, the first import is reported.
	o := manifestOpts
	o.Source = "copy.csv"
	again, err := manifest.Parse(strings.NewReader("\uFEFF"+strings.ReplaceAll(manifestCSV, "\n", "\r\n")), "", o)
	if err != nil {
		t.Fatal(err)
	}
	second, err := db.SaveManifest(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	first.Repeat = true
	if !reflect.DeepEqual(second, first) {
		t.Errorf("repeat\n got %+v\nwant %+v", second, first)
	}
	if after, _ := db.ManifestForSite(ctx, "tw01", 0, 0); !reflect.DeepEqual(after, before) {
		t.Errorf("parcels changed: %+v, were %+v", after, before)
	}
	bs, err := db.ManifestBatches(ctx, "tw01", 10)
	if err != nil || len(bs) != 1 || bs[0].ID != b.ID || bs[0].Source != "tw01_sf.csv" || bs[0].Saved.Report.Rows != 3 ||
		!bs[0].Imported.Equal(first.Imported) || bs[0].Saved.Inserted != 3 {
		t.Errorf("batches %+v, %v", bs, err)
	}
	if bs, err := db.ManifestBatches(ctx, "tw02", 10); err != nil || bs == nil || len(bs) != 0 {
		t.Errorf("batches of another site %+v, %v", bs, err)
	}
}

func testManifestUpdates(t *testing.T, db Store) {
	ctx := context.Background()
	if _, err := db.SaveManifest(ctx, batch(t, manifestCSV)); err != nil {
		t.Fatal(err)
	}
	// A second manifest: one waybill moved to another village, one the
	// same but without its sort code and weight (kept), one new.
	next := batch(t, "waybill,carrier,village,weight_kg\n"+
		"731234567890,ZTO,tw01-v02,2\n"+
		"SF1234567890123,SF,tw01-v01,\n"+
		"551234567890,ZTO,tw01-v02,3\n")
	saved, err := db.SaveManifest(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	if saved.Inserted != 1 || saved.Updated != 1 || saved.Unchanged != 1 || saved.Repeat {
		t.Errorf("saved %+v", saved)
	}
	p, err := db.ManifestParcel(ctx, " 731234567890 ")
	if err != nil || p == nil {
		t.Fatal(p, err)
	}
	if p.Village != "tw01-v02" || *p.WeightKg != 2 || p.Address != "李家村3组" || p.BatchID != next.ID || p.Rev != 4 ||
		p.Source != "tw01_sf.csv" || p.Updated.Before(p.Announced) {
		t.Errorf("updated parcel %+v", p)
	}
	sf, err := db.ManifestParcel(ctx, "sf1234567890123")
	if err != nil || sf.SortCode != "571-W01-01" || *sf.WeightKg != 1.25 || sf.Rev != 1 {
		t.Errorf("unchanged parcel %+v, %v", sf, err)
	}
	if p, err := db.ManifestParcel(ctx, "JT0000000000000"); p != nil || err != nil {
		t.Errorf("unknown waybill: %+v, %v", p, err)
	}
	// The item follows its announcement.
	if it, err := db.Item(ctx, "731234567890"); err != nil || it.Village != "tw01-v02" || it.State != hub.StateAnnounced || *it.WeightKg != 2 {
		t.Errorf("item of the updated parcel %+v, %v", it, err)
	}
}

func testManifestForSite(t *testing.T, db Store) {
	ctx := context.Background()
	var sb strings.Builder
	sb.WriteString("waybill,village\n")
	for i := range 7 {
		fmt.Fprintf(&sb, "SF%013d,tw01-v01\n", i)
	}
	if _, err := db.SaveManifest(ctx, batch(t, sb.String())); err != nil {
		t.Fatal(err)
	}
	// Paging by rev gets every parcel once, though all were stored in the
	// same millisecond.
	var got []string
	after := int64(0)
	for {
		page, err := db.ManifestForSite(ctx, "tw01", after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, p := range page {
			got = append(got, p.Waybill)
		}
		after = page[len(page)-1].Rev
	}
	if len(got) != 7 || got[0] != "SF0000000000000" || got[6] != "SF0000000000006" {
		t.Errorf("paged %v", got)
	}
	// A change shows after the cursor.
	if _, err := db.SaveManifest(ctx, batch(t, "waybill,village\nSF0000000000002,tw01-v02\n")); err != nil {
		t.Fatal(err)
	}
	page, err := db.ManifestForSite(ctx, "tw01", after, 100)
	if err != nil || len(page) != 1 || page[0].Waybill != "SF0000000000002" || page[0].Village != "tw01-v02" {
		t.Errorf("after the cursor: %+v, %v", page, err)
	}
	if page, err := db.ManifestForSite(ctx, "tw02", 0, 100); err != nil || page == nil || len(page) != 0 {
		t.Errorf("other site: %+v, %v", page, err)
	}
	bs, err := db.ManifestBatches(ctx, "", 1)
	if err != nil || len(bs) != 1 || bs[0].Saved.Updated != 1 {
		t.Errorf("newest batch %+v, %v", bs, err)
	}
}

// testRederive: items derived before the store knew the places lack the
// checks that need them, until Rederive.
func testRederive(t *testing.T, db Store) {
	ctx := context.Background()
	at := today().Add(7 * time.Hour)
	if _, err := db.SaveManifest(ctx, batch(t, "waybill,village\nSF0000000000001,tw01-v01\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SaveEvents(ctx, []*hub.ParcelEvent{
		sortedEv("s1", "JT0000000000001", "r01", "b01", 2, at),
		{ID: "a1", Site: "tw01-v03", Edge: "vp", Station: "h1", Kind: contract.EventArrived, Waybill: "JT0000000000001", TS: at.Add(time.Hour), Recv: at},
		sortedEv("s2", "JT0000000000002", "r02", "b02", 31, at.Add(time.Minute)),
	}); err != nil {
		t.Fatal(err)
	}
	it, _ := db.Item(ctx, "JT0000000000001")
	if it.Has(hub.FlagWrongVillage) || it.State != hub.StateArrived {
		t.Fatalf("without places %+v", it)
	}
	if it, _ := db.Item(ctx, "JT0000000000002"); !it.Has(hub.FlagOverweight) {
		t.Errorf("31 kg is over the default limit: %+v", it)
	}
	db.SetPlaces(Places{})
	db.SetOptions(timeline.Options{MaxParcelKg: 40})
	n, err := db.Rederive(ctx)
	if err != nil || n != 3 {
		t.Fatalf("rederived %d, %v", n, err)
	}
	if it, _ := db.Item(ctx, "JT0000000000001"); !it.Has(hub.FlagWrongVillage) {
		t.Errorf("tw01-v03 is on route r02: %+v", it)
	}
	if it, _ := db.Item(ctx, "JT0000000000002"); it.Has(hub.FlagOverweight) {
		t.Errorf("31 kg is under a 40 kg limit: %+v", it)
	}
	// Latest event first, the parcel announced without events last.
	items, err := db.Items(ctx, hub.ItemQuery{})
	if err != nil || len(items) != 3 || items[0].ID != "JT0000000000001" || items[2].ID != "SF0000000000001" || !items[2].Last.IsZero() {
		t.Errorf("items %+v, %v", items, err)
	}
	if items, err := db.Items(ctx, hub.ItemQuery{Route: "r02", Bin: "b02", Site: "tw01"}); err != nil || len(items) != 1 || items[0].ID != "JT0000000000002" {
		t.Errorf("items of r02 %+v, %v", items, err)
	}
}

// testFiguresZone: a day is the day in the zone asked for.
func testFiguresZone(t *testing.T, db Store) {
	ctx := context.Background()
	db.SetPlaces(Places{})
	// 17:30 UTC on 29 November is 01:30 on the 30th in China.
	at := time.Date(2026, 11, 29, 17, 30, 0, 0, time.UTC)
	w := 12.5
	if _, err := db.SaveEvents(ctx, []*hub.ParcelEvent{
		sortedEv("s1", "JT0000000000001", "r01", "b01", 2, at),
		{ID: "l1", Site: "tw01-v02", Edge: "vp", Station: "h1", Kind: contract.EventLotWeighed, Waybill: "LOT-1", WeightKg: &w, Product: "梨", TS: at, Recv: at},
	}); err != nil {
		t.Fatal(err)
	}
	zones := []*time.Location{time.FixedZone("CST", 8*3600)}
	if sh, err := time.LoadLocation("Asia/Shanghai"); err == nil {
		zones = append(zones, sh)
	}
	for _, loc := range zones {
		from := time.Date(2026, 11, 29, 0, 0, 0, 0, loc)
		figs, err := db.Figures(ctx, from, from.AddDate(0, 0, 2), loc)
		if err != nil || len(figs) != 1 || figs[0].Day != "2026-11-30" || figs[0].Sorted != 1 || figs[0].Received != 1 || figs[0].KgCollected != 12.5 {
			t.Errorf("figures in %s: %+v, %v", loc, figs, err)
		}
		prod, err := db.Produce(ctx, from, from.AddDate(0, 0, 2), loc)
		if err != nil || len(prod) != 1 || prod[0].Day != "2026-11-30" || prod[0].Kg != 12.5 || prod[0].Township != "tw01" {
			t.Errorf("produce in %s: %+v, %v", loc, prod, err)
		}
	}
	from := time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	figs, err := db.Figures(ctx, from, from.AddDate(0, 0, 2), time.UTC)
	if err != nil || len(figs) != 1 || figs[0].Day != "2026-11-29" {
		t.Errorf("figures in UTC: %+v, %v", figs, err)
	}
}

// testOddText: text the contract lets through that a store may not hold
// as it is (a NUL byte, invalid UTF-8) is stored, as it is or with
// U+FFFD in place of what it cannot hold, rather than failing the batch.
func testOddText(t *testing.T, db Store) {
	ctx := context.Background()
	odd := testEvent("odd", "tw01", "damaged", t0, nil, "")
	odd.Note, odd.Producer, odd.By = "箱子\x00破了", "bad \xff utf-8", "a\x00b"
	stored, err := db.SaveEvents(ctx, []*hub.ParcelEvent{odd, testEvent("fine", "tw01", "sorted", t0, kg(1), "")})
	if err != nil || len(stored) != 2 {
		t.Fatalf("stored %d, %v", len(stored), err)
	}
	evs, err := db.Events(ctx, hub.EventQuery{Waybill: "SFodd"})
	if err != nil || len(evs) != 1 || (evs[0].Note != odd.Note && evs[0].Note != "箱子\uFFFD破了") {
		t.Errorf("read back %+v, %v", evs, err)
	}
	if stored, err := db.SaveEvents(ctx, []*hub.ParcelEvent{odd}); err != nil || len(stored) != 0 {
		t.Errorf("sent again: stored %d, %v", len(stored), err)
	}
	b := &manifest.Batch{ID: "odd-batch", Site: "tw01", Source: "odd\x00.csv",
		Parcels: []manifest.Parcel{{Waybill: "SF0000000000009", Site: "tw01", Village: "tw01-v01", Address: "李家村\x00 3组"}},
		Report:  manifest.Report{Rows: 2, Accepted: 1, Rejected: 1, Errors: []manifest.RowError{{Line: 3, Msg: "bad \x00 \xfe"}}}}
	if saved, err := db.SaveManifest(ctx, b); err != nil || saved.Inserted != 1 {
		t.Fatalf("manifest %+v, %v", saved, err)
	}
	if p, err := db.ManifestParcel(ctx, "SF0000000000009"); err != nil || p == nil || !strings.HasPrefix(p.Address, "李家村") {
		t.Errorf("announced %+v, %v", p, err)
	}
	if saved, err := db.SaveManifest(ctx, b); err != nil || !saved.Repeat || len(saved.Report.Errors) != 1 {
		t.Errorf("manifest again %+v, %v", saved, err)
	}
	if err := db.Audit(ctx, hub.AuditEntry{By: "x\x00", Action: "run.open", Detail: "\xff"}); err != nil {
		t.Error(err)
	}
	if err := db.SaveSite(ctx, hub.Site{ID: "tw01-v30", Name: "新\x00村", Kind: hub.Village, Parent: "tw01"}); err != nil {
		t.Error(err)
	}
	if sites, err := db.Sites(ctx); err != nil || len(sites) != 1 || sites[0].Name != "新\x00村" {
		t.Errorf("sites %+v, %v", sites, err)
	}
	if it, err := db.Item(ctx, "SF\x00"); it != nil || err != nil {
		t.Errorf("item of an odd waybill %+v, %v", it, err)
	}
}
