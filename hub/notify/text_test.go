package notify_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/countylink/countylink/hub/notify"
	"github.com/countylink/countylink/hub/notify/notifytest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

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
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output; run go test ./hub/notify -update and review the diff\n--- got:\n%s", path, got)
	}
}

// TestRenderings renders every example alarm in every form a person sees:
// the title, the text, the robots' markdown and the webhook's JSON.
func TestRenderings(t *testing.T) {
	var out bytes.Buffer
	for _, ex := range notifytest.Examples {
		body, err := notify.WebhookBody(ex.Alarm)
		if err != nil {
			t.Fatal(err)
		}
		var indented bytes.Buffer
		json.Indent(&indented, body, "", "  ")
		out.WriteString("=== " + ex.Name + "\n")
		out.WriteString("--- title\n" + notify.Title(ex.Alarm) + "\n")
		out.WriteString("--- text\n" + notify.Text(ex.Alarm) + "\n")
		out.WriteString("--- markdown\n" + notify.Markdown(ex.Alarm, []string{"@13800000001"}) + "\n")
		out.WriteString("--- webhook body\n" + indented.String() + "\n\n")
	}
	golden(t, "renderings.golden", out.Bytes())
}

func TestTextFirstChineseThenEnglish(t *testing.T) {
	text := notify.Text(notifytest.HighRaised)
	want := "【严重】城关镇 1号冷库 温度超上限: 6.8 °C (上限 4.0 °C), 持续 5 分钟\n" +
		"CRITICAL: Chengguan cold room 1 temperature above high limit: 6.8 °C (high limit 4.0 °C), for 5 min"
	if text != want {
		t.Errorf("Text =\n%s\nwant\n%s", text, want)
	}
	for _, ex := range notifytest.Examples {
		lines := strings.Split(notify.Text(ex.Alarm), "\n")
		if len(lines) != 2 {
			t.Errorf("%s: %d lines, want 2 (a typed comment must not break the layout): %q", ex.Name, len(lines), lines)
		}
	}
}
