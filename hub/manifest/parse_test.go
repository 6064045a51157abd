package manifest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"

	"github.com/countylink/countylink/hub/manifest"
)

// villages of two townships, shared by the tests.
var villages = []manifest.Village{
	{ID: "tw01-v01", Site: "tw01", Names: []string{"李家村", "李家"}},
	{ID: "tw01-v02", Site: "tw01", Names: []string{"王庄村", "王庄"}},
	{ID: "tw01-v03", Site: "tw01", Names: []string{"东村"}},
	{ID: "tw01-v04", Site: "tw01", Names: []string{"西村"}},
	{ID: "tw02-v01", Site: "tw02", Names: []string{"河口村"}},
}

func opts(site string) manifest.Options {
	return manifest.Options{Site: site, Sites: []string{"tw01", "tw02"}, Villages: villages, Source: "test.csv"}
}

const goodCSV = "运单号,快递公司,收件人,电话,目的村,地址,三段码,重量\n" +
	"SF1234567890123,顺丰,张三,13800000000,tw01-v01,,571-W01-01,1.25\n" +
	"731234567890,中通,李四,13900000000,,城关镇李家村3组,,1250g\n" +
	"yt7012345678901 ,圆通,王五,,王庄村,,200 D06 15,0.5kg\n"

func parse(t *testing.T, in, format string, o manifest.Options) *manifest.Batch {
	t.Helper()
	b, err := manifest.Parse(strings.NewReader(in), format, o)
	if err != nil {
		t.Fatal(err)
	}
	if r := b.Report; r.Rows != r.Accepted+r.Rejected+r.Duplicates || r.Accepted != len(b.Parcels) {
		t.Fatalf("report does not add up: %+v, %d parcels", r, len(b.Parcels))
	}
	return b
}

func kg(v float64) *float64 { return &v }

func TestParseCSV(t *testing.T) {
	b := parse(t, goodCSV, "csv", opts("tw01"))
	want := []manifest.Parcel{
		{Waybill: "SF1234567890123", Carrier: "SF", Site: "tw01", Village: "tw01-v01", SortCode: "571-W01-01", WeightKg: kg(1.25), Line: 2},
		{Waybill: "731234567890", Carrier: "ZTO", Site: "tw01", Village: "tw01-v01", Address: "城关镇李家村3组", WeightKg: kg(1.25), Line: 3},
		{Waybill: "YT7012345678901", Carrier: "YTO", Site: "tw01", Village: "tw01-v02", SortCode: "200-D06-15", WeightKg: kg(0.5), Line: 4},
	}
	if got, _ := json.Marshal(b.Parcels); !bytes.Equal(got, must(json.Marshal(want))) {
		t.Errorf("parcels\n got %s\nwant %s", got, must(json.Marshal(want)))
	}
	if r := b.Report; r.Rows != 3 || r.Accepted != 3 || r.Rejected != 0 || r.Warnings != 0 || len(r.Errors) != 0 || len(r.Notes) != 0 {
		t.Errorf("report %+v", r)
	}
	if b.Site != "tw01" || b.Source != "test.csv" || len(b.ID) != 64 {
		t.Errorf("batch site %q source %q id %q", b.Site, b.Source, b.ID)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// The same manifest, however it was saved, is the same batch.
func TestParseEncodingsSameBatch(t *testing.T) {
	ref := parse(t, goodCSV, "csv", opts("tw01"))
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(goodCSV)
	if err != nil {
		t.Fatal(err)
	}
	utf16, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().String(goodCSV)
	if err != nil {
		t.Fatal(err)
	}
	reordered := "重量,三段码,地址,目的村,快递公司,运单号\n" +
		"1.25,571-W01-01,,tw01-v01,SF,SF1234567890123\n" +
		"1250克,,城关镇李家村3组,,ZTO,731234567890\n" +
		"500g,200-D06-15,,王庄村,YTO,YT7012345678901\n"
	for name, in := range map[string]string{
		"BOM":       "\xEF\xBB\xBF" + goodCSV,
		"GBK":       gbk,
		"UTF-16":    utf16,
		"CRLF":      strings.ReplaceAll(goodCSV, "\n", "\r\n"),
		"tabs":      strings.ReplaceAll(goodCSV, ",", "\t"),
		"reordered": reordered,
		"English":   strings.Replace(goodCSV, "运单号,快递公司,收件人,电话,目的村,地址,三段码,重量", "Waybill,Carrier,Name,Phone,Village,Address,Sort Code,Weight_KG", 1),
		"sniffed":   goodCSV,
	} {
		t.Run(name, func(t *testing.T) {
			format := "csv"
			if name == "sniffed" {
				format = ""
			}
			b := parse(t, in, format, opts("tw01"))
			if b.ID != ref.ID || b.Report.Accepted != 3 {
				t.Errorf("id %s accepted %d, want %s and 3; errors %v", b.ID, b.Report.Accepted, ref.ID, b.Report.Errors)
			}
		})
	}
	if b := parse(t, strings.Replace(goodCSV, "1.25\n", "1.26\n", 1), "csv", opts("tw01")); b.ID == ref.ID {
		t.Error("another weight gives the same batch id")
	}
}

func TestParseJSON(t *testing.T) {
	arr := `[
		{"waybill": "SF1234567890123", "carrier": "SF", "village": "tw01-v01", "sort_code": "571-W01-01", "weight_kg": 1.25},
		{"waybill": 731234567890, "address": "城关镇李家村3组", "weight_kg": "1250g", "phone": "139"},
		{"运单号": "YT7012345678901", "目的村": "王庄村", "site": "tw01"}
	]`
	for name, in := range map[string]string{"array": arr, "object": `{"parcels": ` + arr + `}`} {
		t.Run(name, func(t *testing.T) {
			for _, format := range []string{"json", ""} {
				b := parse(t, in, format, opts("tw01"))
				if b.Report.Accepted != 3 {
					t.Fatalf("report %+v", b.Report)
				}
				p := b.Parcels[1]
				if p.Waybill != "731234567890" || p.Carrier != "ZTO" || p.Village != "tw01-v01" || *p.WeightKg != 1.25 || p.Line != 2 {
					t.Errorf("parcel %+v", p)
				}
			}
		})
	}
}

// TestRowErrors checks each reason a row is rejected: the row gets an
// error naming its line, waybill and field, and the good row after it is
// kept.
func TestRowErrors(t *testing.T) {
	const head = "waybill,carrier,site,village,address,sort_code,weight_kg\n"
	const good = "SF1234567890123,SF,tw01,tw01-v01,,,1\n"
	cases := []struct {
		name, row, site string
		field, msg      string
	}{
		{"no waybill", ",SF,tw01,tw01-v01,,,1", "", "waybill", "missing"},
		{"excel number", "7.31235E+11,ZTO,tw01,tw01-v01,,,1", "", "waybill", "Excel"},
		{"bad character", "SF 1234567890123,SF,tw01,tw01-v01,,,1", "", "waybill", "not a letter or digit"},
		{"too long", strings.Repeat("7", 41) + ",,tw01,tw01-v01,,,1", "", "waybill", "longer than"},
		{"carrier disagrees", "731234567890,SF,tw01,tw01-v01,,,1", "", "carrier", "carrier SF given, number looks like ZTO"},
		{"no site", "731234567890,ZTO,,tw01-v01,,,1", "", "site", "missing"},
		{"other site", "731234567891,ZTO,tw02,tw02-v01,,,1", "tw01", "site", "tw02, but the import is for tw01"},
		{"unknown site", "731234567890,ZTO,tw09,tw01-v01,,,1", "", "site", `unknown township "tw09"`},
		{"unknown village", "731234567890,ZTO,tw01,tw01-v99,,,1", "", "village", `unknown village "tw01-v99"`},
		{"village of another site", "731234567890,ZTO,tw01,tw02-v01,,,1", "", "village", "belongs to tw02"},
		{"address names no village", "731234567890,ZTO,tw01,,城关镇某某路,,1", "", "village", "names no village"},
		{"address names two", "731234567890,ZTO,tw01,,东村西村之间,,1", "", "village", "two villages"},
		{"nowhere", "731234567890,ZTO,tw01,,,,1", "", "village", "neither village nor address"},
		{"sort code", "731234567890,ZTO,tw01,tw01-v01,,571-W01,1", "", "sort_code", "2 segments"},
		{"weight text", "731234567890,ZTO,tw01,tw01-v01,,,heavy", "", "weight_kg", "not a weight"},
		{"weight zero", "731234567890,ZTO,tw01,tw01-v01,,,0", "", "weight_kg", "out of range"},
		{"weight negative", "731234567890,ZTO,tw01,tw01-v01,,,-1", "", "weight_kg", "out of range"},
		{"weight too heavy", "731234567890,ZTO,tw01,tw01-v01,,,150000g", "", "weight_kg", "150 kg is out of range"},
		{"weight NaN", "731234567890,ZTO,tw01,tw01-v01,,,NaN", "", "weight_kg", "not a weight"},
		{"too many fields", "731234567890,ZTO,tw01,tw01-v01,城关镇,李家村,,1", "", "", "8 fields, the header has 7"},
		{"bare quote", `731234567890,ZTO,tw01,tw01-v01,"城关"镇,,1`, "", "", "malformed CSV"},
		{"unterminated quote", `731234567890,ZTO,tw01,tw01-v01,"城关镇,,1`, "", "", "malformed CSV"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := opts(c.site)
			b := parse(t, head+c.row+"\n"+good, "csv", o)
			r := b.Report
			if r.Rows != 2 || r.Rejected != 1 || r.Accepted != 1 || len(r.Errors) != 1 {
				t.Fatalf("report %+v", r)
			}
			e := r.Errors[0]
			if e.Line != 2 || e.Field != c.field || !strings.Contains(e.Msg, c.msg) {
				t.Errorf("error %+v, want line 2, field %q, msg with %q", e, c.field, c.msg)
			}
			if b.Parcels[0].Waybill != "SF1234567890123" || b.Parcels[0].Line != 3 {
				t.Errorf("the good row after it: %+v", b.Parcels)
			}
		})
	}
}

func TestDuplicates(t *testing.T) {
	in := "waybill,carrier,village,weight_kg\n" +
		"731234567890,ZTO,tw01-v01,1\n" + // 2: repeated by 4, which is kept
		"SF1234567890123,SF,tw01-v01,1\n" + // 3: repeated by 6
		"731234567890,,tw01-v02,2\n" + // 4: no carrier: ZTO by its number
		"SF1234567890123,YTO,tw01-v01,1\n" + // 5: carrier disagrees with the number: refused before it is a duplicate
		"sf1234567890123,SF,tw01-v01,1\n" + // 6
		"6012345678,YTO,tw01-v01,1\n" + // 7
		"6012345678,YTO,tw01-v01,1\n" // 8: identical repeat
	b := parse(t, in, "csv", opts("tw01"))
	r := b.Report
	if r.Rows != 7 || r.Accepted != 3 || r.Duplicates != 3 || r.Rejected != 1 {
		t.Fatalf("report %+v", r)
	}
	var lines []int
	for _, p := range b.Parcels {
		lines = append(lines, p.Line)
	}
	if fmt.Sprint(lines) != "[4 6 8]" || b.Parcels[0].Village != "tw01-v02" || b.Parcels[0].Carrier != "ZTO" {
		t.Errorf("parcels %+v", b.Parcels)
	}
	if e := r.Errors[0]; e.Line != 5 || e.Field != "carrier" || e.Msg != "carrier YTO given, number looks like SF" {
		t.Errorf("error %+v", e)
	}
	var notes []string
	for _, n := range r.Notes {
		notes = append(notes, n.String())
	}
	want := []string{
		"line 2 731234567890 waybill: duplicate: repeated at line 4 with another village; line 4 is kept",
		"line 3 SF1234567890123 waybill: duplicate: repeated at line 6, which is kept",
		"line 7 6012345678 waybill: duplicate: repeated at line 8, which is kept",
	}
	if strings.Join(notes, "\n") != strings.Join(want, "\n") {
		t.Errorf("notes\n%s\nwant\n%s", strings.Join(notes, "\n"), strings.Join(want, "\n"))
	}
}

func TestTwoCarriersOneWaybill(t *testing.T) {
	// An unknown-pattern number claimed by two carriers: both rows refused.
	in := "waybill,carrier,village\nAB12345,德邦,tw01-v01\nAB12345,SF,tw01-v01\nAB12345,德邦,tw01-v01\nSF1234567890123,SF,tw01-v01\n"
	b := parse(t, in, "csv", opts("tw01"))
	r := b.Report
	if r.Accepted != 1 || r.Rejected != 3 || len(r.Errors) != 3 {
		t.Fatalf("report %+v", r)
	}
	for i, e := range r.Errors {
		if e.Line != i+2 || e.Waybill != "AB12345" || !strings.Contains(e.Msg, "carriers disagree") {
			t.Errorf("error %d: %+v", i, e)
		}
	}
}

func TestWarnings(t *testing.T) {
	in := "waybill,carrier,village,address\n" +
		"XX99,,tw01-v01,\n" + // matches no pattern
		"ZZ123456,百世,tw01-v01,\n" + // carrier unknown, number unknown too
		"1212345678901,,tw01-v01,\n" + // Yunda or China Post, not said
		"1312345678901,SF,tw01-v01,\n" // Yunda or China Post, SF said
	b := parse(t, in, "csv", opts("tw01"))
	r := b.Report
	if r.Accepted != 4 || r.Warnings != 5 || len(r.Notes) != 5 {
		t.Fatalf("report %+v", r)
	}
	if b.Parcels[1].Carrier != "百世" || b.Parcels[2].Carrier != "" || b.Parcels[3].Carrier != "SF" {
		t.Errorf("carriers kept: %+v", b.Parcels)
	}
	if n := r.Notes[4]; n.Field != "carrier" || n.Msg != "carrier SF given, number looks like YUNDA or POST" {
		t.Errorf("note %+v", n)
	}

	// Without a village list, an address alone is kept, with a warning.
	o := opts("tw01")
	o.Villages = nil
	b = parse(t, "waybill,address,village\n731234567890,李家村,\n551234567890,,any-id\n", "csv", o)
	if b.Report.Accepted != 2 || b.Report.Warnings != 1 || b.Parcels[0].Village != "" || b.Parcels[1].Village != "any-id" {
		t.Errorf("report %+v parcels %+v", b.Report, b.Parcels)
	}
}

func TestErrorCap(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("waybill,village\n")
	for i := 0; i < 1500; i++ {
		fmt.Fprintf(&sb, "7%011d,nowhere\n", i)
	}
	b := parse(t, sb.String(), "csv", opts("tw01"))
	if r := b.Report; r.Rejected != 1500 || len(r.Errors) != manifest.DefaultMaxErrors || !r.Truncated {
		t.Errorf("rejected %d, %d errors, truncated %v", r.Rejected, len(r.Errors), r.Truncated)
	}
}

func TestParseErrors(t *testing.T) {
	for name, c := range map[string]struct {
		in, format string
		site       string
		msg        string
	}{
		"empty":           {"", "csv", "tw01", "no header"},
		"no waybill":      {"carrier,village\nSF,v\n", "csv", "tw01", "no waybill column"},
		"no site":         {"waybill,village\nSF1234567890123,v\n", "csv", "", "no site column"},
		"two columns":     {"waybill,运单号\n", "csv", "tw01", "two waybill columns"},
		"bad JSON":        {`[{"waybill": }]`, "json", "tw01", "JSON"},
		"JSON shape":      {`{"rows": []}`, "json", "tw01", `{"parcels"`},
		"trailing":        {`[] []`, "json", "tw01", "after the manifest"},
		"not an encoding": {"waybill\n\xff\xff\xff\n", "csv", "tw01", "neither UTF-8 nor GBK"},
		"format":          {"waybill\n", "xlsx", "tw01", "want csv or json"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := manifest.Parse(strings.NewReader(c.in), c.format, opts(c.site))
			if !errors.Is(err, manifest.ErrFormat) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("err %v, want ErrFormat with %q", err, c.msg)
			}
		})
	}
	o := opts("tw01")
	o.MaxBytes = 10
	if _, err := manifest.Parse(strings.NewReader(goodCSV), "csv", o); !errors.Is(err, manifest.ErrFormat) {
		t.Errorf("too large: %v", err)
	}
}

func TestJSONRowErrors(t *testing.T) {
	in := `[1, {"waybill": "SF1234567890123", "village": {"id": "x"}}, {"waybill": "SF1234567890124", "village": "tw01-v01"}]`
	b := parse(t, in, "json", opts("tw01"))
	r := b.Report
	if r.Rejected != 2 || r.Accepted != 1 || r.Errors[0].Line != 1 || r.Errors[1].Waybill != "SF1234567890123" ||
		!strings.Contains(r.Errors[1].Msg, "not a string or number") {
		t.Errorf("report %+v", r)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(goodCSV), "")
	f.Add([]byte("waybill,site,village,weight_kg\nSF1234567890123,tw01,tw01-v01,\"1\n2\""), "csv")
	f.Add([]byte(`{"parcels":[{"waybill":"SF1234567890123","weight_kg":1e400}]}`), "json")
	f.Add([]byte(`[{"waybill":7.3e11,"site":"tw02","address":"河口村"}]`), "")
	f.Add([]byte("运单号\n\"a\"b\n731234567890\n"), "csv")
	f.Fuzz(func(t *testing.T, in []byte, format string) {
		o := opts("")
		b, err := manifest.Parse(bytes.NewReader(in), format, o)
		if err != nil {
			return
		}
		r := b.Report
		if r.Rows != r.Accepted+r.Rejected+r.Duplicates || r.Accepted != len(b.Parcels) ||
			len(r.Errors) > manifest.DefaultMaxErrors || (r.Rejected > 0) != (len(r.Errors) > 0) {
			t.Fatalf("report does not add up: %+v, %d parcels", r, len(b.Parcels))
		}
		seen := map[string]bool{}
		for _, p := range b.Parcels {
			if p.Waybill == "" || p.Site == "" || seen[p.Waybill] {
				t.Fatalf("parcel %+v", p)
			}
			seen[p.Waybill] = true
			if p.WeightKg != nil && !(*p.WeightKg > 0 && *p.WeightKg <= manifest.MaxWeightKg) {
				t.Fatalf("weight %v", *p.WeightKg)
			}
		}
		again, err := manifest.Parse(bytes.NewReader(in), format, o)
		if err != nil || again.ID != b.ID {
			t.Fatalf("not deterministic: %v, %s vs %s", err, again.ID, b.ID)
		}
	})
}
