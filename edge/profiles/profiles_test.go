package profiles

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/countylink/countylink/edge/profile"
)

var update = flag.Bool("update", false, "rewrite the testcases' expected.json from the current decoder")

// TestCases decodes each profile's testcases/<case>/input.json (raw values
// per table and address) and compares the result with expected.json.
func TestCases(t *testing.T) {
	for _, name := range Names() {
		p, err := Load("", name)
		if err != nil {
			t.Fatal(err)
		}
		cases, _ := filepath.Glob(filepath.Join(name, "testcases", "*"))
		if len(cases) == 0 {
			t.Errorf("profile %s has no testcases", name)
		}
		for _, dir := range cases {
			t.Run(dir, func(t *testing.T) {
				got := decodeCase(t, p, filepath.Join(dir, "input.json"))
				b, _ := json.MarshalIndent(got, "", "  ")
				b = append(b, '\n')
				want := filepath.Join(dir, "expected.json")
				if *update {
					if err := os.WriteFile(want, b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				exp, err := os.ReadFile(want)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it, then check it by hand)", err)
				}
				if string(exp) != string(b) {
					t.Errorf("decoded\n%s\nwant\n%s", b, exp)
				}
			})
		}
	}
}

func decodeCase(t *testing.T, p *profile.Profile, path string) *profile.Reading {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var in map[profile.Table]map[string]uint16
	if err := json.Unmarshal(data, &in); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	rd := profile.NewReading()
	for _, q := range p.Plan() {
		words := make([]uint16, q.Quantity)
		for i := range words {
			v, ok := in[q.Table][strconv.Itoa(int(q.Address)+i)]
			if !ok && !gapAllowed(p, q, int(q.Address)+i) {
				t.Fatalf("%s: %s %d not given", path, q.Table, int(q.Address)+i)
			}
			words[i] = v
		}
		if err := p.Decode(q, words, rd); err != nil {
			t.Fatal(err)
		}
	}
	return rd
}

// gapAllowed reports whether addr lies in a coalesced read but in no register.
func gapAllowed(p *profile.Profile, q profile.Request, addr int) bool {
	for _, i := range q.Registers {
		r := p.Registers[i]
		if addr >= int(r.Address) && addr < int(r.Address)+r.Type.Words() {
			return false
		}
	}
	return true
}

func TestLoadFromDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "my-sensor.yaml"), []byte("model: my-sensor\nregisters:\n  - {field: t, table: input, address: 7, type: int16}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte("model: broken\nregisters:\n  - {field: t, table: attic, address: 7}\n"), 0o644)
	p, err := Load(dir, "my-sensor")
	if err != nil || p.Registers[0].Address != 7 {
		t.Fatalf("Load from dir: %v %+v", err, p)
	}
	if _, err := Load(dir, "broken"); err == nil {
		t.Fatal("broken profile loaded")
	}
	if _, err := Load(dir, "th-renke"); err != nil {
		t.Fatalf("built-in not found beside a dir: %v", err)
	}
	if _, err := Load("", "no-such"); err == nil {
		t.Fatal("missing profile loaded")
	}
}

// TestWritableFields: every field a shipped profile marks rw encodes a
// value within its limits, and reads it back through Decode.
func TestWritableFields(t *testing.T) {
	for _, name := range Names() {
		p, err := Load("", name)
		if err != nil {
			t.Fatal(err)
		}
		for _, field := range p.Writable() {
			r, _ := p.Field(field)
			v := 1.0
			if r.Max != nil {
				v = min(v, *r.Max)
			}
			if r.Min != nil {
				v = max(v, *r.Min)
			}
			_, words, err := p.Encode(field, v)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			q, _ := p.ReadRequest(field)
			rd := profile.NewReading()
			if err := p.Decode(q, words, rd); err != nil || rd.Fields[field] != v {
				t.Errorf("%s: %s = %v encodes to %v, decoded %v %v", name, field, v, words, rd, err)
			}
		}
	}
	// The ones this package ships with commands.
	for name, want := range map[string][]string{
		"coldroom-ctrl": {"setpoint", "high_limit", "low_limit"},
		"weigh-modbus":  {"tare", "cmd_zero", "cmd_tare"},
	} {
		p, err := Load("", name)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Writable(); !slices.Equal(got, want) {
			t.Errorf("%s: writable %v, want %v", name, got, want)
		}
	}
}
