package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/manifest"
)

var manifestOpts = manifest.Options{
	Site: "tw01", Source: "tw01_sf.csv",
	Villages: []manifest.Village{
		{ID: "tw01-v01", Site: "tw01", Names: []string{"李家村"}},
		{ID: "tw01-v02", Site: "tw01", Names: []string{"王庄村"}},
	},
}

// batch parses a manifest of tw01 that must have no rejected row.
func batch(t *testing.T, csv string) *manifest.Batch {
	t.Helper()
	b, err := manifest.Parse(strings.NewReader(csv), "csv", manifestOpts)
	if err != nil {
		t.Fatal(err)
	}
	if b.Report.Rejected != 0 {
		t.Fatalf("rejected rows: %v", b.Report.Errors)
	}
	return b
}

const manifestCSV = "运单号,快递公司,目的村,地址,三段码,重量\n" +
	"SF1234567890123,顺丰,tw01-v01,,571-W01-01,1.25\n" +
	"731234567890,中通,,李家村3组,,\n" +
	"YT7012345678901,圆通,王庄村,,,0.5\n"

func sortedEv(id, wb, route, bin string, kg float64, at time.Time) *hub.ParcelEvent {
	return &hub.ParcelEvent{ID: id, Site: "tw01", Edge: "e1", Station: "s1", Kind: contract.EventSorted, Waybill: wb,
		Route: route, Bin: bin, WeightKg: &kg, TS: at, Recv: at}
}

// testDay is a township's day: a manifest, sorting, a run loaded (over
// capacity, from the wrong bin, of the wrong route), unloaded, departed,
// scanned in at the villages (one at the wrong one) and closed, farm
// lots weighed and shipped, then the day's figures.
func testDay(t *testing.T, db Store) {
	db.SetPlaces(Places{})
	ctx := context.Background()
	day := today()
	if _, err := db.SaveManifest(ctx, batch(t, manifestCSV)); err != nil {
		t.Fatal(err)
	}
	it, err := db.Item(ctx, "SF1234567890123")
	if err != nil || it == nil || it.State != hub.StateAnnounced || it.Village != "tw01-v01" || it.Township != "tw01" {
		t.Fatalf("announced item %+v, %v", it, err)
	}
	if it, err := db.Item(ctx, "NOPE1"); it != nil || err != nil {
		t.Errorf("unknown item %+v, %v", it, err)
	}

	at := day.Add(8 * time.Hour)
	evs := []*hub.ParcelEvent{
		sortedEv("e1", "SF1234567890123", "r01", "b01", 1.2, at),
		sortedEv("e2", "731234567890", "r01", "b01", 3, at.Add(time.Minute)),
		sortedEv("e3", "YT7012345678901", "r01", "b01", 0.5, at.Add(2*time.Minute)),
		sortedEv("e4", "JT0000000000001", "r02", "b02", 2, at.Add(3*time.Minute)),
		sortedEv("e5", "JT0000000000002", "", "b99", 1, at.Add(4*time.Minute)),
	}
	evs[4].Exception = contract.ExceptionUnknown
	if stored, err := db.SaveEvents(ctx, evs); err != nil || len(stored) != 5 {
		t.Fatalf("stored %d, %v", len(stored), err)
	}
	if it, _ := db.Item(ctx, "JT0000000000001"); it.State != hub.StateSorted || !it.Has(hub.FlagUnannounced) {
		t.Errorf("unannounced parcel %+v", it)
	}

	b, err := db.Board(ctx, "tw01")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Routes) != 2 || b.Routes[0].Route != "r01" || b.Routes[0].Waiting != 3 || b.Routes[0].WaitingKg != 4.7 ||
		!b.Routes[0].Oldest.Equal(at) || b.Exceptions != 1 {
		t.Errorf("board %+v", b)
	}

	run, err := db.OpenRun(ctx, &hub.Run{Site: "tw01", Route: "r01", Vehicle: "晋A12345", Driver: "老李", CapacityParcels: 2, By: "coord", Opened: at.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if run.ID != "tw01-"+day.Format("20060102")+"-r01-1" || run.State != hub.RunOpen || len(run.Stops) != 2 ||
		run.Vehicle != "晋A12345" || run.Driver != "老李" || run.By != "coord" || !run.Opened.Equal(at.Add(time.Hour)) {
		t.Fatalf("run %+v", run)
	}
	res, err := db.LoadRun(ctx, hub.LoadRequest{Run: run.ID, Waybills: []string{"sf1234567890123", "731234567890", "YT7012345678901", "NOPE1", "JT0000000000001"}, By: "staff1", At: at.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, r := range res.Refused {
		reasons[r.Waybill] = r.Reason
	}
	if !slices.Equal(res.Loaded, []string{"SF1234567890123", "731234567890"}) ||
		reasons["YT7012345678901"] != hub.RefuseCapacity || reasons["NOPE1"] != hub.RefuseUnknown || reasons["JT0000000000001"] != hub.RefuseWrongRoute {
		t.Fatalf("load %+v", res)
	}
	if res.Run.Parcels != 2 || res.Run.WeightKg != 4.2 {
		t.Errorf("run after load %+v", res.Run)
	}
	// Over capacity with Over: loaded and warned; loaded twice: a warning.
	res, err = db.LoadRun(ctx, hub.LoadRequest{Run: run.ID, Waybills: []string{"YT7012345678901", "731234567890"}, Over: true, FromBin: "b02", At: at.Add(time.Hour)})
	if err != nil || len(res.Loaded) != 1 || len(res.Warnings) != 2 {
		t.Fatalf("load over %+v, %v", res, err)
	}
	if it, _ := db.Item(ctx, "YT7012345678901"); it.State != hub.StateLoaded || !it.Has(hub.FlagWrongBin) {
		t.Errorf("taken from bin b02: %+v", it)
	}
	// Another run of r01 cannot take a parcel that is on this one.
	other, _ := db.OpenRun(ctx, &hub.Run{Site: "tw01", Route: "r01", Opened: at.Add(time.Hour)})
	if other.ID != "tw01-"+day.Format("20060102")+"-r01-2" {
		t.Errorf("second run id %s", other.ID)
	}
	if res, _ := db.LoadRun(ctx, hub.LoadRequest{Run: other.ID, Waybills: []string{"731234567890"}}); len(res.Refused) != 1 || res.Refused[0].Reason != hub.RefuseOtherRun {
		t.Errorf("other run %+v", res)
	}
	if res, _ := db.UnloadRun(ctx, run.ID, []string{"YT7012345678901"}, "staff1", at.Add(time.Hour)); len(res.Loaded) != 1 || res.Run.Parcels != 2 {
		t.Errorf("unload %+v", res)
	}
	if res, _ := db.UnloadRun(ctx, run.ID, []string{"YT7012345678901"}, "staff1", at.Add(time.Hour)); len(res.Refused) != 1 || res.Refused[0].Reason != hub.RefuseState {
		t.Errorf("unload of a parcel not on the run %+v", res)
	}
	runs, err := db.Runs(ctx, hub.RunQuery{Site: "tw01", States: []string{hub.RunOpen}})
	if err != nil || len(runs) != 2 || runs[0].ID != other.ID || runs[1].ID != run.ID || runs[1].Parcels != 2 {
		t.Errorf("open runs %+v, %v", runs, err)
	}

	run, left, err := db.DepartRun(ctx, run.ID, "coord", at.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if run.State != hub.RunDeparted || !run.Departed.Equal(at.Add(2*time.Hour)) || len(left) != 1 || left[0].ID != "YT7012345678901" {
		t.Fatalf("departed %+v, left behind %v", run, left)
	}
	if _, err := db.LoadRun(ctx, hub.LoadRequest{Run: run.ID, Waybills: []string{"YT7012345678901"}}); !errors.Is(err, hub.ErrConflict) {
		t.Errorf("load on a departed run: %v", err)
	}
	if _, err := db.LoadRun(ctx, hub.LoadRequest{Run: "tw01-nope", Waybills: []string{"X"}}); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("load on no run: %v", err)
	}

	// The village point scans in; one parcel lands at the wrong village.
	arrive := func(id, wb, village, kind string, at time.Time) *hub.ParcelEvent {
		return &hub.ParcelEvent{ID: id, Site: village, Edge: "vp", Station: "h1", Kind: kind, Waybill: wb, TS: at, Recv: at}
	}
	if _, err := db.SaveEvents(ctx, []*hub.ParcelEvent{
		arrive("a1", "SF1234567890123", "tw01-v01", contract.EventArrived, at.Add(3*time.Hour)),
		arrive("a2", "SF1234567890123", "tw01-v01", contract.EventPickedUp, at.Add(5*time.Hour)),
		arrive("a3", "731234567890", "tw01-v03", contract.EventArrived, at.Add(4*time.Hour)),
	}); err != nil {
		t.Fatal(err)
	}
	if it, _ := db.Item(ctx, "731234567890"); !it.Has(hub.FlagWrongVillage) {
		t.Errorf("the ZTO parcel is for 李家村 (tw01-v01): %+v", it)
	}
	if it, _ := db.Item(ctx, "SF1234567890123"); it.State != hub.StatePickedUp || !it.Delivered.Equal(at.Add(5*time.Hour)) ||
		!it.Dispatched.Equal(at.Add(2*time.Hour)) || !it.Arrived.Equal(at) || it.Events != 5 || *it.WeightKg != 1.2 {
		t.Errorf("delivered parcel %+v", it)
	}
	run, _ = db.Run(ctx, run.ID)
	if run.Delivered != 1 || len(run.Stops) != 3 || run.Stops[0].Village != "tw01-v01" || run.Stops[0].Arrived != 1 || !run.Stops[0].Visited ||
		!run.Stops[0].First.Equal(at.Add(3*time.Hour)) || run.Stops[1].Visited || run.Stops[2].Village != "tw01-v03" {
		t.Errorf("run stops %+v", run)
	}
	// The parcel at the wrong village is not delivered.
	run, undelivered, err := db.CloseRun(ctx, run.ID, "coord", at.Add(8*time.Hour))
	if err != nil || run.State != hub.RunClosed || len(undelivered) != 1 || undelivered[0].ID != "731234567890" {
		t.Errorf("closed %+v %v %v", run, undelivered, err)
	}

	// Farm products.
	kg := 40.0
	if _, err := db.SaveEvents(ctx, []*hub.ParcelEvent{
		{ID: "l1", Site: "tw01-v02", Edge: "vp", Station: "h1", Kind: contract.EventLotWeighed, Waybill: "LOT-1", WeightKg: &kg, Product: "苹果", Producer: "张三", TS: at, Recv: at},
		{ID: "l2", Site: "tw01", Edge: "e1", Station: "h1", Kind: contract.EventLotShipped, Waybill: "LOT-1", Run: "ship-1", TS: at.Add(6 * time.Hour), Recv: at},
	}); err != nil {
		t.Fatal(err)
	}

	figs, err := db.Figures(ctx, day, day.AddDate(0, 0, 1), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	want := hub.DayFigures{Day: day.Format(time.DateOnly), Township: "tw01", Received: 5, Sorted: 4, Dispatched: 2, Delivered: 1, Exceptions: 2,
		AvgDispatchH: 1.99, LotsCollected: 1, KgCollected: 40, LotsShipped: 1, KgShipped: 40}
	if len(figs) != 1 || figs[0] != want {
		t.Errorf("figures %+v\nwant %+v", figs, want)
	}
	if figs, err := db.Figures(ctx, day.AddDate(0, 0, 1), day.AddDate(0, 0, 2), time.UTC); err != nil || len(figs) != 0 {
		t.Errorf("figures of tomorrow %+v, %v", figs, err)
	}
	prod, err := db.Produce(ctx, day, day.AddDate(0, 0, 1), time.UTC)
	if err != nil || len(prod) != 1 || prod[0] != (hub.ProduceTotal{Day: day.Format(time.DateOnly), Village: "tw01-v02", Township: "tw01", Product: "苹果", Lots: 1, Kg: 40}) {
		t.Errorf("produce %+v %v", prod, err)
	}
	items, err := db.Items(ctx, hub.ItemQuery{Township: "tw01", Flag: hub.FlagWrongVillage})
	if err != nil || len(items) != 1 || items[0].ID != "731234567890" {
		t.Errorf("flagged items %v %v", items, err)
	}
	lot := true
	if items, err := db.Items(ctx, hub.ItemQuery{Lot: &lot}); err != nil || len(items) != 1 || items[0].ID != "LOT-1" ||
		items[0].State != hub.StateLotShipped || items[0].Village != "tw01-v02" || items[0].Product != "苹果" {
		t.Errorf("lots %+v %v", items, err)
	}
	// Latest event first.
	items, err = db.Items(ctx, hub.ItemQuery{})
	if err != nil || len(items) != 6 || items[0].ID != "LOT-1" || items[1].ID != "SF1234567890123" || items[5].ID != "JT0000000000001" {
		t.Errorf("all items %v %v", items, err)
	}
	if items, err := db.Items(ctx, hub.ItemQuery{Township: "tw01", States: []string{hub.StateException, hub.StateLoaded}}); err != nil ||
		len(items) != 1 || items[0].ID != "JT0000000000002" {
		t.Errorf("exceptions %v %v", items, err)
	}

	// The timeline of a parcel is its events, hub's included.
	tl, _ := db.Events(ctx, hub.EventQuery{Waybill: "SF1234567890123"})
	var kinds []string
	for _, e := range tl {
		kinds = append([]string{e.Kind}, kinds...)
	}
	if !slices.Equal(kinds, []string{"sorted", "loaded", "dispatched", "arrived", "picked_up"}) {
		t.Errorf("timeline %v", kinds)
	}
	if tl[3].By != "staff1" || tl[3].Run != run.ID {
		t.Errorf("loaded event %+v", tl[3])
	}
}

// testRunErrors: what a run refuses.
func testRunErrors(t *testing.T, db Store) {
	ctx := context.Background()
	for _, r := range []hub.Run{{Route: "r01"}, {Site: "tw01"}, {Site: "TW 01", Route: "r01"}, {Site: "tw01", Route: "r01", CapacityKg: -1}} {
		if _, err := db.OpenRun(ctx, &r); !errors.Is(err, hub.ErrInvalidIn) {
			t.Errorf("open %+v: %v", r, err)
		}
	}
	if _, err := db.Run(ctx, "nope"); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("no run: %v", err)
	}
	if _, err := db.LoadRun(ctx, hub.LoadRequest{Run: "nope"}); !errors.Is(err, hub.ErrInvalidIn) {
		t.Errorf("empty load: %v", err)
	}
	if _, _, err := db.DepartRun(ctx, "nope", "x", time.Time{}); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("departure of no run: %v", err)
	}
	run, err := db.OpenRun(ctx, &hub.Run{Site: "tw01", Route: "r01"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.CloseRun(ctx, run.ID, "x", time.Time{}); !errors.Is(err, hub.ErrConflict) {
		t.Errorf("close of an open run: %v", err)
	}
	res, err := db.LoadRun(ctx, hub.LoadRequest{Run: run.ID, Bin: "b01"})
	if err != nil || len(res.Loaded) != 0 || len(res.Warnings) != 1 {
		t.Errorf("load of an empty bin %+v, %v", res, err)
	}
	if _, _, err := db.DepartRun(ctx, run.ID, "x", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UnloadRun(ctx, run.ID, []string{"X"}, "x", time.Time{}); !errors.Is(err, hub.ErrConflict) {
		t.Errorf("unload of a departed run: %v", err)
	}
	if _, _, err := db.DepartRun(ctx, run.ID, "x", time.Time{}); !errors.Is(err, hub.ErrConflict) {
		t.Errorf("second departure: %v", err)
	}
	if r, _, err := db.CloseRun(ctx, run.ID, "x", time.Time{}); err != nil || r.State != hub.RunClosed || r.Closed.IsZero() {
		t.Errorf("close %+v, %v", r, err)
	}
	if runs, err := db.Runs(ctx, hub.RunQuery{States: []string{hub.RunOpen, hub.RunDeparted}}); err != nil || len(runs) != 0 {
		t.Errorf("runs open or on the road %+v, %v", runs, err)
	}
}

func testAuditAndSites(t *testing.T, db Store) {
	ctx := context.Background()
	for i, a := range []string{"site.put", "run.open", "site.put"} {
		if err := db.Audit(ctx, hub.AuditEntry{By: "admin", Action: a, Site: "tw01", Target: "x", Detail: `{"n":` + string(rune('0'+i)) + `}`}); err != nil {
			t.Fatal(err)
		}
	}
	log, err := db.AuditLog(ctx, hub.AuditQuery{Action: "site.put"})
	if err != nil || len(log) != 2 || log[0].Seq != 3 || log[0].By != "admin" || log[0].Detail != `{"n":2}` || log[0].At.IsZero() {
		t.Fatalf("audit %+v %v", log, err)
	}
	if log, _ := db.AuditLog(ctx, hub.AuditQuery{Before: 3, Limit: 1}); len(log) != 1 || log[0].Seq != 2 {
		t.Errorf("page %+v", log)
	}
	if log, _ := db.AuditLog(ctx, hub.AuditQuery{Site: "tw02"}); log == nil || len(log) != 0 {
		t.Errorf("other site %+v", log)
	}
	v := hub.Site{ID: "tw01-v20", Name: "新村", Kind: hub.Village, Parent: "tw01", Phase: 3}
	if err := db.SaveSite(ctx, v); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveSite(ctx, hub.Site{ID: "tw01-v21", Name: "后村", Kind: hub.Village, Parent: "tw01"}); err != nil {
		t.Fatal(err)
	}
	v.Name = "新新村"
	v.Rooms = []hub.Room{{ID: "cr1"}} // rooms stay in the sites file
	db.SaveSite(ctx, v)
	sites, err := db.Sites(ctx)
	if err != nil || len(sites) != 2 || sites[0].Name != "新新村" || sites[0].Phase != 3 || sites[0].Rooms != nil || sites[1].ID != "tw01-v21" {
		t.Errorf("sites %+v %v", sites, err)
	}
}
