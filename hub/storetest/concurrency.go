package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/manifest"
)

// sortParcels sorts n parcels into route r01's bin b01 at tw01 and returns
// their waybills.
func sortParcels(t *testing.T, db Store, prefix string, n int, at time.Time) []string {
	t.Helper()
	wbs := make([]string, n)
	evs := make([]*hub.ParcelEvent, n)
	for i := range n {
		wbs[i] = fmt.Sprintf("%s%010d", prefix, i)
		evs[i] = sortedEv("s-"+wbs[i], wbs[i], "r01", "b01", 1, at.Add(time.Duration(i)*time.Second))
	}
	if _, err := db.SaveEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	return wbs
}

// race runs the fs at the same time and waits for them.
func race(fs ...func()) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, f := range fs {
		wg.Go(func() {
			<-start
			f()
		})
	}
	close(start)
	wg.Wait()
}

// testConcurrentLoads: coordinators load the same parcels onto runs at
// once, scan by scan in opposite orders, and by the bin: each parcel ends
// on exactly one run.
func testConcurrentLoads(t *testing.T, db Store) {
	db.SetPlaces(Places{})
	ctx := context.Background()
	at := today().Add(6 * time.Hour)
	for round, byBin := range []bool{false, false, true} {
		wbs := sortParcels(t, db, fmt.Sprintf("JT%d", round), 60, at)
		runs := make([]*hub.Run, 3)
		for i := range runs {
			r, err := db.OpenRun(ctx, &hub.Run{Site: "tw01", Route: "r01", Opened: at.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			runs[i] = r
		}
		loaded := make([][]string, len(runs))
		load := func(i int, req hub.LoadRequest) {
			req.Run, req.At = runs[i].ID, at.Add(time.Hour)
			res, err := db.LoadRun(ctx, req)
			if err != nil {
				t.Errorf("load onto %s: %v", runs[i].ID, err)
				return
			}
			for _, r := range res.Refused {
				if r.Reason != hub.RefuseOtherRun {
					t.Errorf("load onto %s refused %+v", runs[i].ID, r)
				}
			}
			loaded[i] = append(loaded[i], res.Loaded...)
		}
		reversed := slices.Clone(wbs)
		slices.Reverse(reversed)
		loaders := []func(){func() {
			for chunk := range slices.Chunk(wbs, 3) {
				load(0, hub.LoadRequest{Waybills: chunk})
			}
		}, func() {
			for chunk := range slices.Chunk(reversed, 3) {
				load(1, hub.LoadRequest{Waybills: chunk})
			}
		}}
		if byBin {
			loaders = append(loaders, func() {
				time.Sleep(time.Millisecond) // after a few scans
				load(2, hub.LoadRequest{Bin: "b01"})
			})
		}
		race(loaders...)
		if byBin {
			// Whatever the scans left in the bin.
			load(2, hub.LoadRequest{Bin: "b01"})
		}
		on := map[string]string{}
		total := 0
		for i, l := range loaded {
			for _, wb := range l {
				if r, dup := on[wb]; dup {
					t.Errorf("%s loaded onto %s and %s", wb, r, runs[i].ID)
				}
				on[wb] = runs[i].ID
			}
			r, err := db.Run(ctx, runs[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			if r.Parcels != len(l) {
				t.Errorf("run %s holds %d parcels, its loads said %d", r.ID, r.Parcels, len(l))
			}
			total += r.Parcels
		}
		if total != len(wbs) || len(on) != len(wbs) {
			t.Errorf("round %d: %d parcels on the runs, %d loaded, want %d", round, total, len(on), len(wbs))
		}
		for _, wb := range wbs {
			it, err := db.Item(ctx, wb)
			if err != nil || it.State != hub.StateLoaded || it.Run != on[wb] {
				t.Errorf("%s: %+v, %v; loaded onto %q", wb, it, err, on[wb])
			}
			if evs, _ := db.Events(ctx, hub.EventQuery{Waybill: wb}); len(evs) != 2 {
				t.Errorf("%s has %d events, want sorted and one loaded", wb, len(evs))
			}
		}
		t.Logf("round %d: loaded %d, %d, %d", round, len(loaded[0]), len(loaded[1]), len(loaded[2]))
	}
}

// testConcurrentDepart: a run departs while parcels are loaded onto it and
// taken off it, and while another coordinator departs it too: it departs
// once, and no parcel stays loaded onto a run on the road.
func testConcurrentDepart(t *testing.T, db Store) {
	db.SetPlaces(Places{})
	ctx := context.Background()
	at := today().Add(6 * time.Hour)
	for round := range 5 {
		wbs := sortParcels(t, db, fmt.Sprintf("Y%d", round), 20, at)
		run, err := db.OpenRun(ctx, &hub.Run{Site: "tw01", Route: "r01", Opened: at.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := db.LoadRun(ctx, hub.LoadRequest{Run: run.ID, Waybills: wbs[:10], At: at.Add(time.Hour)}); err != nil || len(res.Loaded) != 10 {
			t.Fatalf("load %+v, %v", res, err)
		}
		var departErrs [2]error
		var loadErr, unloadErr error
		var loadRes *hub.LoadResult
		depart := func(i int) func() {
			return func() { _, _, departErrs[i] = db.DepartRun(ctx, run.ID, "coord", at.Add(2*time.Hour)) }
		}
		race(depart(0), depart(1), func() {
			loadRes, loadErr = db.LoadRun(ctx, hub.LoadRequest{Run: run.ID, Waybills: wbs[10:], At: at.Add(time.Hour)})
		}, func() {
			_, unloadErr = db.UnloadRun(ctx, run.ID, wbs[:2], "staff", at.Add(time.Hour))
		})
		if (departErrs[0] == nil) == (departErrs[1] == nil) {
			t.Fatalf("round %d: departures %v, %v: want one to succeed", round, departErrs[0], departErrs[1])
		}
		for _, err := range departErrs {
			if err != nil && !errors.Is(err, hub.ErrConflict) {
				t.Errorf("round %d: second departure %v", round, err)
			}
		}
		want := map[string]string{}
		for _, wb := range wbs[:10] {
			want[wb] = hub.StateDispatched
		}
		for _, wb := range wbs[10:] {
			want[wb] = hub.StateSorted
		}
		switch {
		case loadErr == nil:
			if len(loadRes.Loaded) != 10 {
				t.Errorf("round %d: load %+v", round, loadRes)
			}
			for _, wb := range wbs[10:] {
				want[wb] = hub.StateDispatched
			}
		case !errors.Is(loadErr, hub.ErrConflict):
			t.Errorf("round %d: load %v", round, loadErr)
		}
		switch {
		case unloadErr == nil:
			for _, wb := range wbs[:2] {
				want[wb] = hub.StateSorted
			}
		case !errors.Is(unloadErr, hub.ErrConflict):
			t.Errorf("round %d: unload %v", round, unloadErr)
		}
		dispatched := 0
		for _, wb := range wbs {
			it, err := db.Item(ctx, wb)
			if err != nil || it.State != want[wb] {
				t.Errorf("round %d: %s %+v, %v; want %s (load %v, unload %v)", round, wb, it, err, want[wb], loadErr, unloadErr)
				continue
			}
			if it.State == hub.StateDispatched {
				dispatched++
			}
		}
		r, err := db.Run(ctx, run.ID)
		if err != nil || r.State != hub.RunDeparted || r.Parcels != dispatched {
			t.Errorf("round %d: run %+v, %v; %d parcels dispatched", round, r, err, dispatched)
		}
		if items, _ := db.Items(ctx, hub.ItemQuery{Run: run.ID, States: []string{hub.StateLoaded}}); len(items) != 0 {
			t.Errorf("round %d: %d parcels loaded onto a departed run", round, len(items))
		}
	}
}

// testConcurrentOpenRun: runs of a route opened at once are numbered
// apart.
func testConcurrentOpenRun(t *testing.T, db Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)
	const n = 12
	ids := make([]string, n)
	fs := make([]func(), n)
	for i := range n {
		fs[i] = func() {
			r, err := db.OpenRun(ctx, &hub.Run{Site: "tw01", Route: "r01", Vehicle: fmt.Sprint(i), Opened: at})
			if err != nil {
				t.Errorf("open %d: %v", i, err)
				return
			}
			if r.Vehicle != fmt.Sprint(i) {
				t.Errorf("open %d gave run %+v", i, r)
			}
			ids[i] = r.ID
		}
	}
	race(fs...)
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("tw01-20261129-r01-%d", i+1))
	}
	got := slices.Clone(ids)
	slices.SortFunc(got, func(a, b string) int { return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b)) })
	if !slices.Equal(got, want) {
		t.Errorf("run ids %v, want %v", got, want)
	}
	runs, err := db.Runs(ctx, hub.RunQuery{Site: "tw01", Route: "r01"})
	if err != nil || len(runs) != n {
		t.Errorf("%d runs, %v", len(runs), err)
	}
}

// testConcurrentEvents: events of the same parcels stored at once by
// several writers (hubs), some re-sent by two: each is stored once, and
// the items are derived from all of them.
func testConcurrentEvents(t *testing.T, db Store) {
	ctx := context.Background()
	at := t0
	const writers = 16
	dup := &hub.ParcelEvent{ID: "dup", Site: "tw01", Edge: "e1", Station: "s1", Kind: contract.EventConfirmed, Waybill: "JT0000000000001", TS: at, Recv: at}
	stored := make([]int, writers)
	fs := make([]func(), writers)
	for i := range writers {
		fs[i] = func() {
			ts := at.Add(time.Duration(i+1) * time.Second)
			evs := []*hub.ParcelEvent{
				{ID: fmt.Sprintf("a%d", i), Site: "tw01", Edge: "e1", Station: "s1", Kind: contract.EventSorted, Waybill: "JT0000000000001", Route: "r01", Bin: "b01", TS: ts, Recv: ts},
				{ID: fmt.Sprintf("b%d", i), Site: "tw01", Edge: "e1", Station: "s1", Kind: contract.EventSorted, Waybill: "JT0000000000002", Route: "r02", Bin: "b02", TS: ts, Recv: ts},
				dup,
			}
			if i%2 == 1 {
				slices.Reverse(evs)
			}
			got, err := db.SaveEvents(ctx, evs)
			if err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
			stored[i] = len(got)
		}
	}
	race(fs...)
	sum := 0
	for _, n := range stored {
		sum += n
	}
	if sum != 2*writers+1 {
		t.Errorf("stored %d events, want %d", sum, 2*writers+1)
	}
	for wb, n := range map[string]int{"JT0000000000001": writers + 1, "JT0000000000002": writers} {
		it, err := db.Item(ctx, wb)
		if err != nil || it.Events != n || !it.Last.Equal(at.Add(writers*time.Second)) || !it.Has(hub.FlagScannedTwice) {
			t.Errorf("%s: %+v, %v; want %d events", wb, it, err, n)
		}
		if evs, _ := db.Events(ctx, hub.EventQuery{Waybill: wb}); len(evs) != n {
			t.Errorf("%s: %d events stored, want %d", wb, len(evs), n)
		}
	}
}

// testConcurrentManifests: manifests imported at once by several hubs,
// one of them by three, several announcing the same parcel: each batch is
// stored once, each parcel inserted once, and the revs stay a cursor.
func testConcurrentManifests(t *testing.T, db Store) {
	ctx := context.Background()
	const batches, per = 6, 20
	var bs []*manifest.Batch
	for i := range batches {
		var sb strings.Builder
		sb.WriteString("waybill,village\n")
		for j := range per {
			fmt.Fprintf(&sb, "SF%013d,tw01-v01\n", i*per+j)
		}
		fmt.Fprintf(&sb, "SF9999999999999,tw01-v0%d\n", i%2+1) // in every manifest
		bs = append(bs, batch(t, sb.String()))
	}
	same := batch(t, "waybill,village\nJT0000000000001,tw01-v02\nJT0000000000002,tw01-v02\n")
	saved := make([]manifest.Saved, batches)
	repeats := make([]manifest.Saved, 3)
	var fs []func()
	for i, b := range bs {
		fs = append(fs, func() {
			var err error
			if saved[i], err = db.SaveManifest(ctx, b); err != nil {
				t.Errorf("manifest %d: %v", i, err)
			}
		})
	}
	for i := range repeats {
		fs = append(fs, func() {
			var err error
			if repeats[i], err = db.SaveManifest(ctx, same); err != nil {
				t.Errorf("same manifest %d: %v", i, err)
			}
		})
	}
	race(fs...)
	inserted, other := 0, 0
	for _, s := range saved {
		inserted += s.Inserted
		other += s.Updated + s.Unchanged
	}
	if inserted != batches*per+1 || other != batches-1 {
		t.Errorf("inserted %d, updated or unchanged %d; want %d, %d", inserted, other, batches*per+1, batches-1)
	}
	// One import of the same manifest stored it; the others got its
	// result.
	i := slices.IndexFunc(repeats, func(s manifest.Saved) bool { return !s.Repeat })
	if i < 0 || repeats[i].Inserted != 2 {
		t.Fatalf("imports of the same manifest %+v", repeats)
	}
	for j, s := range repeats {
		if j != i && (!s.Repeat || s.Inserted != 2 || !s.Imported.Equal(repeats[i].Imported)) {
			t.Errorf("import %d of the same manifest %+v, the first %+v", j, s, repeats[i])
		}
	}
	rows, err := db.ManifestForSite(ctx, "tw01", 0, 0)
	if err != nil || len(rows) != batches*per+3 {
		t.Fatalf("%d parcels announced, %v", len(rows), err)
	}
	for i := 1; i < len(rows); i++ {
		if rows[i].Rev <= rows[i-1].Rev {
			t.Errorf("rev %d after %d", rows[i].Rev, rows[i-1].Rev)
		}
	}
	if list, err := db.ManifestBatches(ctx, "tw01", 0); err != nil || len(list) != batches+1 {
		t.Errorf("%d batches, %v", len(list), err)
	}
	it, err := db.Item(ctx, "SF9999999999999")
	p, _ := db.ManifestParcel(ctx, "SF9999999999999")
	if err != nil || it == nil || p == nil || it.Village != p.Village {
		t.Errorf("the item %+v follows its last announcement %+v (%v)", it, p, err)
	}
}
