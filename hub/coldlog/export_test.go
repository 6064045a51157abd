package coldlog

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/xml"
	"errors"
	"flag"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the current output")

// hourMeta describes the hand-computed example's room.
func hourMeta() Meta {
	return Meta{
		Site: "tw01", SiteName: "城关镇", SiteNameEN: "Chengguan",
		Room: "cr1", RoomName: "1号冷库", RoomNameEN: "Cold room 1", Class: "chilled",
		TZ: shanghai, GeneratedAt: at(9, 30, 0),
	}
}

// staticSource serves fixed series, whatever it is asked.
func staticSource(series ...Series) Source {
	return SourceFunc(func(context.Context, string, string, time.Time, time.Time) ([]Series, error) {
		return series, nil
	})
}

func hourBuild(t *testing.T) *Log {
	t.Helper()
	l, err := Build(context.Background(), staticSource(Series{"cr1-th", hourLog()}), hourMeta(), hourParams())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output; go test -update rewrites it. Output:\n%s", path, got)
	}
}

func TestCSVGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCSV(&b, hourBuild(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "hour.csv", b.Bytes())
}

func TestHTMLGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTML(&b, hourBuild(t)); err != nil {
		t.Fatal(err)
	}
	golden(t, "hour.html", b.Bytes())
}

// readCSV parses an export as a spreadsheet would.
func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("\uFEFF")) {
		t.Error("no byte order mark")
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\uFEFF"))))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// field returns the second cell of the first row whose first cell starts
// with label.
func field(rows [][]string, label string) string {
	for _, r := range rows {
		if strings.HasPrefix(r[0], label) && len(r) > 1 {
			return r[1]
		}
	}
	return ""
}

// An auditor recomputes the figures from the CSV's reading rows alone.
func TestCSVRecomputes(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCSV(&b, hourBuild(t)); err != nil {
		t.Fatal(err)
	}
	rows := readCSV(t, b.Bytes())
	var sumW, sumV, sumE, outS float64
	n, gapRows := 0, 0
	reading := false
	for _, r := range rows {
		if strings.HasPrefix(r[0], "时间 / Time") {
			reading = true
			continue
		}
		if !reading || len(r) < 5 {
			continue
		}
		if r[1] == "" {
			if !strings.HasPrefix(r[4], "数据缺失 / no data from 2025-03-01 08:38:00 +08:00 to 2025-03-01 08:50:00 +08:00") {
				t.Errorf("gap row %q", r)
			}
			gapRows++
			continue
		}
		if _, err := time.Parse(timeLayout, r[0]); err != nil {
			t.Errorf("time %q: %v", r[0], err)
		}
		v, err1 := strconv.ParseFloat(r[1], 64)
		w, err2 := strconv.ParseFloat(r[3], 64)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatalf("row %q: %v", r, err)
		}
		n++
		sumW += w
		sumV += w * v
		sumE += w * math.Exp(-10000/(v+273.15))
		if r[2] == textNo {
			outS += w
		}
	}
	mean := strconv.FormatFloat(sumV/sumW, 'f', 2, 64)
	mkt := strconv.FormatFloat(10000/-math.Log(sumE/sumW)-273.15, 'f', 2, 64)
	if n != 12 || gapRows != 1 || sumW != 48*60 || outS != 180 {
		t.Errorf("%d readings, %d gap rows, weights %v s, out of range %v s", n, gapRows, sumW, outS)
	}
	for label, want := range map[string]string{
		"读数 / Readings":      "12",
		"平均 / Mean":          mean,
		"平均动力学温度 / MKT":      mkt,
		"超限时长":               "00:03:00",
		"数据覆盖率":              "80.0%",
		"最高 / Max":           "6",
		"结论 / Result":        textNotCompliant,
		"下限 / Low limit":     "0",
		"上限 / High limit":    "4",
		"探头 / Probe":         "cr1-th",
		"站点 / Site":          "城关镇 Chengguan (tw01)",
		"数据缺失 / Gaps":        "1",
		"超限次数 / Excursions":  "1",
		"期间 / Period":        "2025-03-01 08:00:00 +08:00",
		"平均动力学温度 / MKT (°C)": "3.00",
		"平均 / Mean (°C)":     "2.95",
	} {
		if got := field(rows, label); got != want {
			t.Errorf("%s: %q, want %q", label, got, want)
		}
	}
}

// checkPage checks that an HTML export is well formed (the template is
// written as XHTML), fetches nothing and runs nothing, and holds each of
// want once its character references are decoded.
func checkPage(t *testing.T, page string, want ...string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(page))
	d.Strict = true
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("page is not well formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local == "script" || se.Name.Local == "link" || se.Name.Local == "img" {
				t.Errorf("page has a <%s>", se.Name.Local)
			}
			for _, a := range se.Attr {
				if a.Name.Local == "src" || a.Name.Local == "href" || strings.HasPrefix(a.Name.Local, "on") {
					t.Errorf("<%s> has %s=%q", se.Name.Local, a.Name.Local, a.Value)
				}
			}
		}
	}
	if strings.Contains(page, "http://") && strings.Count(page, "http://") != strings.Count(page, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Error("page refers to a URL")
	}
	text := html.UnescapeString(page)
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}

func TestHTMLContent(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTML(&b, hourBuild(t)); err != nil {
		t.Fatal(err)
	}
	checkPage(t, b.String(),
		"城关镇 Chengguan (tw01)", "1号冷库 Cold room 1 (cr1)", "冷藏 chilled",
		"<td class=\"num\">12</td>",
		"2 °C", "2025-03-01 08:00:00 +08:00", // min
		"6 °C", "2025-03-01 08:21:00 +08:00", // max and peak
		"2.95 °C", "3.00 °C", // mean, MKT
		"00:03:00", "80.0%", // out of range, coverage
		"2025-03-01 08:20:00 +08:00", "2025-03-01 08:23:00 +08:00", // excursion
		"2025-03-01 08:38:00 +08:00", "2025-03-01 08:50:00 +08:00", "00:12:00", // gap
		"<svg", "class=\"limit\"", "class=\"gap\"", "class=\"line out\"", "@media", "size: A4",
		textNotCompliant,
	)
}

// The chart leaves the gap blank: no line crosses 08:38 to 08:50.
func TestChartGap(t *testing.T) {
	l := hourBuild(t)
	pr := &l.Probes[0]
	c := chart(pr.Log, &pr.Report, shanghai)
	plotW := float64(chartW - chartLeft - chartRight)
	x0 := chartLeft + plotW*38/60
	x1 := chartLeft + plotW*50/60
	if len(c.Gaps) != 1 || c.Gaps[0].X != num(x0) {
		t.Errorf("gaps %+v, want one at x %v", c.Gaps, num(x0))
	}
	if len(c.Lines) != 4 { // in range, out, in range to the gap, in range after it
		t.Errorf("%d lines, want 4: %+v", len(c.Lines), c.Lines)
	}
	for _, line := range c.Lines {
		for _, pt := range strings.Fields(line.Points) {
			x, _ := strconv.ParseFloat(strings.Split(pt, ",")[0], 64)
			if x > x0+0.1 && x < x1-0.1 {
				t.Errorf("line point %s inside the gap (%v to %v)", pt, x0, x1)
			}
		}
	}
	if len(c.XTicks) == 0 || c.XTicks[0].Label != "08:00" || c.XTicks[len(c.XTicks)-1].Label != "09:00" {
		t.Errorf("x ticks %+v", c.XTicks)
	}
}

// A room without data, and a probe without data, say so and are not
// compliant.
func TestExportNoData(t *testing.T) {
	meta := hourMeta()
	empty, err := Build(context.Background(), staticSource(), meta, hourParams())
	if err != nil {
		t.Fatal(err)
	}
	meta.Expect = []string{"cr1-ctl", "cr1-th"}
	oneSilent, err := Build(context.Background(), staticSource(Series{"cr1-th", hourLog()}), meta, hourParams())
	if err != nil {
		t.Fatal(err)
	}
	if empty.Compliant() || oneSilent.Compliant() || len(oneSilent.Probes) != 2 || !oneSilent.Probes[0].Report.NoData() {
		t.Fatalf("empty %+v\none silent %+v", empty, oneSilent)
	}
	for name, l := range map[string]*Log{"empty": empty, "one silent": oneSilent} {
		t.Run(name, func(t *testing.T) {
			var c, h bytes.Buffer
			if err := WriteCSV(&c, l); err != nil {
				t.Fatal(err)
			}
			if err := WriteHTML(&h, l); err != nil {
				t.Fatal(err)
			}
			rows := readCSV(t, c.Bytes())
			if got := field(rows, "结论 / Result"); got != textNoData+"，"+textNotCompliant && got != textNotCompliant {
				t.Errorf("CSV result %q", got)
			}
			if !strings.Contains(c.String(), "数据缺失 / no data from 2025-03-01 08:00:00 +08:00 to 2025-03-01 09:00:00 +08:00") {
				t.Errorf("CSV has no gap row for the period:\n%s", c.String())
			}
			checkPage(t, h.String(), textNoData, "2025-03-01 08:00:00 +08:00")
		})
	}
}

// Text from the sites file is escaped, in the page and in the CSV.
func TestExportEscapes(t *testing.T) {
	meta := hourMeta()
	meta.SiteName = `<b>"A" & B</b>`
	meta.RoomName = "1号,\"冷库\"\n二"
	l, err := Build(context.Background(), staticSource(Series{"cr1-th", hourLog()}), meta, hourParams())
	if err != nil {
		t.Fatal(err)
	}
	var c, h bytes.Buffer
	if err := WriteCSV(&c, l); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&h, l); err != nil {
		t.Fatal(err)
	}
	checkPage(t, h.String(), `<b>"A" & B</b> Chengguan (tw01)`)
	if !strings.Contains(h.String(), "&lt;b&gt;&#34;A&#34; &amp; B&lt;/b&gt;") {
		t.Error("site name not escaped")
	}
	rows := readCSV(t, c.Bytes())
	if got := field(rows, "冷库 / Room"); got != "1号,\"冷库\"\n二 Cold room 1 (cr1)" {
		t.Errorf("room %q", got)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestExportWriteError(t *testing.T) {
	l := hourBuild(t)
	if err := WriteCSV(failingWriter{}, l); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("WriteCSV: %v", err)
	}
	if err := WriteHTML(failingWriter{}, l); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("WriteHTML: %v", err)
	}
}
