package contract

import "testing"

const examplePlan = `{"v":1,"site":"tw01","version":"2026-11-29.3",
 "routes":[
  {"id":"r1","name":"东线","villages":["v011","v012"],"sort_codes":["W01"],"keywords":["李家村","王庄"]},
  {"id":"r2","name":"西线","villages":["v021"],"sort_codes":["W02"]},
  {"id":"r3","name":"北线","villages":["v031"]}],
 "stations":{"s1":{"r1":"b01","r2":"b02"}},
 "exception_bin":{"s1":"b99"}}`

func TestDecide(t *testing.T) {
	p, err := DecodeSortPlan([]byte(examplePlan))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		station string
		in      Parcel
		want    Decision
	}{
		{"manifest first", "s1", Parcel{Village: "v021", SortCode: "W01"}, Decision{Route: "r2", Bin: "b02", Rule: "manifest"}},
		{"sort code", "s1", Parcel{SortCode: "w01"}, Decision{Route: "r1", Bin: "b01", Rule: "sort_code"}},
		{"keyword", "s1", Parcel{Address: "某县某镇王庄3组"}, Decision{Route: "r1", Bin: "b01", Rule: "keyword"}},
		{"unknown", "s1", Parcel{Waybill: "SF1234567890123"}, Decision{Bin: "b99", Rule: "none", Exception: ExceptionUnknown}},
		{"route without bin", "s1", Parcel{Village: "v031"}, Decision{Route: "r3", Bin: "b99", Rule: "manifest", Exception: ExceptionNoBin}},
		{"unknown station", "s9", Parcel{Village: "v011"}, Decision{Rule: "none", Exception: ExceptionStation}},
	} {
		if got := p.Decide(tc.station, tc.in); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestSortPlanRefused(t *testing.T) {
	for name, plan := range map[string]string{
		"bin for a missing route": `{"v":1,"site":"tw01","version":"1","routes":[{"id":"r1"}],"stations":{"s1":{"r9":"b1"}},"exception_bin":{"s1":"b99"}}`,
		"no exception bin":        `{"v":1,"site":"tw01","version":"1","routes":[{"id":"r1"}],"stations":{"s1":{"r1":"b1"}}}`,
		"bin twice":               `{"v":1,"site":"tw01","version":"1","routes":[{"id":"r1"},{"id":"r2"}],"stations":{"s1":{"r1":"b1","r2":"b1"}},"exception_bin":{"s1":"b99"}}`,
		"exception bin reused":    `{"v":1,"site":"tw01","version":"1","routes":[{"id":"r1"}],"stations":{"s1":{"r1":"b99"}},"exception_bin":{"s1":"b99"}}`,
		"route twice":             `{"v":1,"site":"tw01","version":"1","routes":[{"id":"r1"},{"id":"r1"}],"stations":{},"exception_bin":{}}`,
		"unknown member":          `{"v":1,"site":"tw01","version":"1","routes":[],"stations":{},"exception_bin":{},"colour":"red"}`,
		"future version":          `{"v":2,"site":"tw01","version":"1","routes":[],"stations":{},"exception_bin":{}}`,
		"not json":                `plan`,
	} {
		if _, err := DecodeSortPlan([]byte(plan)); err == nil || ReasonOf(err) == "" {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzDecodeSortPlan(f *testing.F) {
	f.Add([]byte(examplePlan))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeSortPlan(b)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("error without reason: %v", err)
			}
			return
		}
		// An accepted plan always gives a bin at its stations.
		for st := range p.Stations {
			if d := p.Decide(st, Parcel{Waybill: "x"}); d.Bin == "" {
				t.Fatalf("station %s: no bin for an unknown parcel", st)
			}
		}
	})
}
