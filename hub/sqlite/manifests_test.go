package sqlite

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/countylink/countylink/hub/manifest"
)

var manifestOpts = manifest.Options{
	Site: "tw01", Source: "tw01_sf.csv",
	Villages: []manifest.Village{
		{ID: "tw01-v01", Site: "tw01", Names: []string{"李家村"}},
		{ID: "tw01-v02", Site: "tw01", Names: []string{"王庄村"}},
	},
}

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

func TestSaveManifestIdempotent(t *testing.T) {
	db, _ := open(t)
	ctx := context.Background()
	b := batch(t, manifestCSV)
	first, err := db.SaveManifest(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if first.Inserted != 3 || first.Updated != 0 || first.Unchanged != 0 || first.Repeat || first.Report.Accepted != 3 {
		t.Fatalf("first import %+v", first)
	}
	before := rowsOf(t, db, `SELECT waybill || ' ' || rev || ' ' || updated_ms || ' ' || batch_id FROM manifest_parcels ORDER BY waybill`)

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
	if after := rowsOf(t, db, `SELECT waybill || ' ' || rev || ' ' || updated_ms || ' ' || batch_id FROM manifest_parcels ORDER BY waybill`); !reflect.DeepEqual(after, before) {
		t.Errorf("parcels changed: %v, were %v", after, before)
	}
	bs, err := db.ManifestBatches(ctx, "tw01", 10)
	if err != nil || len(bs) != 1 || bs[0].ID != b.ID || bs[0].Source != "tw01_sf.csv" || bs[0].Saved.Report.Rows != 3 {
		t.Errorf("batches %+v, %v", bs, err)
	}
}

func TestSaveManifestUpdates(t *testing.T) {
	db, _ := open(t)
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
		!p.Announced.Before(p.Updated) && !p.Announced.Equal(p.Updated) {
		t.Errorf("updated parcel %+v", p)
	}
	sf, err := db.ManifestParcel(ctx, "sf1234567890123")
	if err != nil || sf.SortCode != "571-W01-01" || *sf.WeightKg != 1.25 || sf.Rev != 1 {
		t.Errorf("unchanged parcel %+v, %v", sf, err)
	}
	if p, err := db.ManifestParcel(ctx, "JT0000000000000"); p != nil || err != nil {
		t.Errorf("unknown waybill: %+v, %v", p, err)
	}
}

func TestManifestForSite(t *testing.T) {
	db, _ := open(t)
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
	if page, err := db.ManifestForSite(ctx, "tw02", 0, 100); err != nil || len(page) != 0 {
		t.Errorf("other site: %+v, %v", page, err)
	}
	bs, err := db.ManifestBatches(ctx, "", 1)
	if err != nil || len(bs) != 1 || bs[0].Saved.Updated != 1 {
		t.Errorf("newest batch %+v, %v", bs, err)
	}
}
