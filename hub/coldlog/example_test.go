package coldlog_test

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/coldlog"
)

// A day's log of a chilled room: read from a store, recorded at the
// cadence, and exported. Here a function stands in for the store: the hub
// passes an influx.Reader, or coldlog.FromDevices of its SQLite store.
func Example() {
	cst := time.FixedZone("Asia/Shanghai", 8*3600)
	day := time.Date(2026, 11, 29, 0, 0, 0, 0, cst)
	site := hub.Site{ID: "tw01", Name: "城关镇", NameEN: "Chengguan", Kind: hub.Township}
	room := hub.Room{ID: "cr1", Name: "1号冷库", NameEN: "Cold room 1", Class: "chilled", MinC: 0, MaxC: 4}

	store := coldlog.SourceFunc(func(_ context.Context, site, room string, from, to time.Time) ([]coldlog.Series, error) {
		// A probe read every 10 s, at 3 °C but for a door left open from
		// 10:00 to 10:02, and silent from 15:00 to 15:30.
		var s []coldlog.Sample
		for t := from; t.Before(to); t = t.Add(10 * time.Second) {
			v := 3.0
			if t.Hour() == 10 && t.Minute() < 2 {
				v = 6.5
			}
			if t.Hour() == 15 && t.Minute() < 30 {
				continue
			}
			s = append(s, coldlog.Sample{TS: t, Value: v})
		}
		return []coldlog.Series{{Device: "cr1-th", Samples: s}}, nil
	})

	meta, params := coldlog.ForRoom(site, room, day, day.AddDate(0, 0, 1))
	meta.TZ, meta.GeneratedAt = cst, day.AddDate(0, 0, 1)
	log, err := coldlog.Build(context.Background(), store, meta, params)
	if err != nil {
		fmt.Println(err)
		return
	}
	r := log.Probes[0].Report
	fmt.Printf("%s: %d raw readings recorded as %d\n", log.Probes[0].Device, 8640-180, r.Count)
	fmt.Printf("min %.1f max %.1f mean %.2f MKT %.2f\n", r.Min.Value, r.Max.Value, r.Mean, r.MKT)
	for _, e := range r.Excursions {
		fmt.Printf("%s from %s to %s, peak %.1f\n", e.Kind, e.Start.Format("15:04"), e.End.Format("15:04"), e.Peak)
	}
	for _, g := range r.Gaps {
		// The last reading before the gap, 14:59:50, stands for 5 min.
		fmt.Printf("no data from %s to %s\n", g.From.Format("15:04:05"), g.To.Format("15:04:05"))
	}
	fmt.Printf("coverage %.4f, compliant %v\n", r.Coverage, log.Compliant())

	if err := coldlog.WriteCSV(io.Discard, log); err != nil { // or an http.ResponseWriter
		fmt.Println(err)
	}
	if err := coldlog.WriteHTML(io.Discard, log); err != nil {
		fmt.Println(err)
	}
	// Output:
	// cr1-th: 8460 raw readings recorded as 286
	// min 3.0 max 6.5 mean 3.00 MKT 3.01
	// high from 10:00 to 10:02, peak 6.5
	// no data from 15:04:50 to 15:30:00
	// coverage 0.9825, compliant false
}
