package manifest

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/unicode"
)

// Defaults of Options.
const (
	DefaultMaxBytes  = 32 << 20 // a day's manifest of a large carrier is a few MB
	DefaultMaxErrors = 1000
)

// MaxWeightKg is the heaviest parcel a manifest may announce: above it the
// number is a typing error (grams in the kilogram column) or freight.
const MaxWeightKg = 100

// ErrFormat is wrapped by the errors Parse returns for a manifest it
// cannot read at all.
var ErrFormat = errors.New("manifest unreadable")

// Village is a village service point a manifest row can be addressed to.
type Village struct {
	ID   string // its site id
	Site string // the township it belongs to
	// Names are the names an address or a village column may use for it:
	// "李家村", "李家". The longest name found in an address wins.
	Names []string
}

// Options say what Parse checks rows against.
type Options struct {
	// Site is the township every row is for; a row's site column must
	// then be empty or agree. Empty when each row names its site.
	Site string
	// Sites are the known townships; when set, a row's site must be one.
	Sites []string
	// Villages are the known village points; when set, a row's village
	// must be one of its site (by id or name), or is found in its address.
	// When nil, a village is taken as given and none is found.
	Villages []Village
	// Source is recorded with the batch: the file name, or "api".
	Source string
	// MaxBytes is the largest manifest read; 0 means DefaultMaxBytes.
	MaxBytes int64
	// MaxErrors caps Report.Errors and Report.Notes; 0 means
	// DefaultMaxErrors.
	MaxErrors int
}

// Parse reads a manifest in format "csv" or "json", or "" to tell by its
// first character, and checks every row.
//
// CSV has a header row; the column names accepted are in the package's
// columns table (Chinese or English). The separator is a comma, or a tab
// or semicolon when the header has more of those. Text is UTF-8 (with or
// without BOM), UTF-16 with BOM, or GB18030/GBK when it is not valid UTF-8.
// JSON is an array of objects with the same keys, or {"parcels": [...]}.
func Parse(r io.Reader, format string, opts Options) (*Batch, error) {
	max := opts.MaxBytes
	if max <= 0 {
		max = DefaultMaxBytes
	}
	raw, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", opts.Source, err)
	}
	if int64(len(raw)) > max {
		return nil, fmt.Errorf("manifest %s: %w: larger than %d bytes", opts.Source, ErrFormat, max)
	}
	text, err := decode(raw)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w: %v", opts.Source, ErrFormat, err)
	}
	if format == "" {
		format = "csv"
		if t := bytes.TrimLeft(text, " \t\r\n"); len(t) > 0 && (t[0] == '[' || t[0] == '{') {
			format = "json"
		}
	}
	var rows []row
	switch strings.ToLower(format) {
	case "csv":
		rows, err = readCSV(text, opts.Site != "")
	case "json":
		rows, err = readJSON(text)
	default:
		err = fmt.Errorf("format %q: want csv or json", format)
	}
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w: %v", opts.Source, ErrFormat, err)
	}
	return check(rows, opts), nil
}

// decode returns text as UTF-8 without a byte order mark.
func decode(b []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		b = b[3:]
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}), bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		// Excel's "Unicode text" export.
		d, err := unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder().Bytes(b)
		if err != nil {
			return nil, fmt.Errorf("UTF-16: %v", err)
		}
		return d, nil
	}
	if utf8.Valid(b) {
		return b, nil
	}
	d, err := simplifiedchinese.GB18030.NewDecoder().Bytes(b)
	if err != nil || bytes.ContainsRune(d, utf8.RuneError) {
		return nil, errors.New("text is neither UTF-8 nor GBK/GB18030; save the file as CSV UTF-8")
	}
	return d, nil
}

// field is a column of a manifest.
type field int

const (
	fWaybill field = iota
	fCarrier
	fVillage
	fAddress
	fSortCode
	fWeight
	fSite
	numFields
)

// fieldNames are the English column names, used in reports.
var fieldNames = [numFields]string{"waybill", "carrier", "village", "address", "sort_code", "weight_kg", "site"}

func (f field) String() string { return fieldNames[f] }

// columns maps a normalised column name (see normalName) to its field;
// grams marks weight columns in grams rather than kilograms.
var columns = map[string]struct {
	f     field
	grams bool
}{}

func init() {
	add := func(f field, grams bool, names ...string) {
		for _, n := range names {
			columns[normalName(n)] = struct {
				f     field
				grams bool
			}{f, grams}
		}
	}
	add(fWaybill, false, "运单号", "运单编号", "快递单号", "单号", "waybill", "waybill_no", "waybill_number", "tracking_no", "tracking_number")
	add(fCarrier, false, "快递公司", "承运商", "快递", "物流公司", "carrier", "courier")
	add(fVillage, false, "目的村", "村", "村点", "收件村", "village", "village_id")
	add(fAddress, false, "地址", "收件地址", "收件人地址", "详细地址", "address", "consignee_address")
	add(fSortCode, false, "三段码", "分拣码", "sort_code", "sortcode")
	add(fWeight, false, "重量", "重量(kg)", "重量(公斤)", "重量(千克)", "重量kg", "weight", "weight_kg", "weight(kg)")
	add(fWeight, true, "重量(g)", "重量(克)", "重量g", "weight_g", "weight(g)")
	add(fSite, false, "乡镇", "站点", "乡镇站点", "site", "township")
}

// normalName folds a column name: case, spaces, '_', '-' and full-width
// parentheses do not matter.
func normalName(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.NewReplacer(" ", "", "\u3000", "", "_", "", "-", "", "（", "(", "）", ")").Replace(s)
}

// row is one data row as read, before it is checked.
type row struct {
	line  int
	v     [numFields]string
	grams bool   // the weight column is in grams
	bad   string // why the row could not be read; the fields are empty
}

func readCSV(text []byte, siteGiven bool) ([]row, error) {
	// Start of each line, so reading can resume after a malformed row
	// (an unterminated quote would otherwise swallow the rest).
	starts := []int{0}
	for i, c := range text {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	comma := sniffComma(text)
	var (
		rows  []row
		cols  []int // field per column, -1 for a column not used
		grams bool
		base  = 0 // lines before the reader's start
	)
	for base < len(starts) {
		cr := csv.NewReader(bytes.NewReader(text[starts[base]:]))
		cr.Comma, cr.FieldsPerRecord = comma, -1
		restart := false
		for {
			rec, err := cr.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line := base + pe.StartLine
				if cols == nil {
					return nil, fmt.Errorf("header line %d: %v", line, pe.Err)
				}
				rows = append(rows, row{line: line, bad: fmt.Sprintf("malformed CSV: %v at line %d, column %d", pe.Err, base+pe.Line, pe.Column)})
				base, restart = line, true // resume on the line after it
				break
			}
			if err != nil {
				return nil, err
			}
			line, _ := cr.FieldPos(0)
			line += base
			if cols == nil {
				cols, grams, err = header(rec, siteGiven)
				if err != nil {
					return nil, fmt.Errorf("header line %d: %w", line, err)
				}
				continue
			}
			r := row{line: line, grams: grams}
			empty := true
			for i, s := range rec {
				s = cell(s)
				if s == "" {
					continue
				}
				empty = false
				if i >= len(cols) {
					r.bad = fmt.Sprintf("malformed row: %d fields, the header has %d (an unquoted separator in a field?)", len(rec), len(cols))
					break
				}
				if cols[i] >= 0 {
					r.v[cols[i]] = s
				}
			}
			if empty {
				continue // Excel leaves rows of empty cells
			}
			rows = append(rows, r)
		}
		if !restart {
			break
		}
	}
	if cols == nil {
		return nil, errors.New("empty: no header row")
	}
	return rows, nil
}

// header maps the columns of the header row to fields.
func header(rec []string, siteGiven bool) (cols []int, grams bool, err error) {
	cols = make([]int, len(rec))
	var seen [numFields]bool
	for i, name := range rec {
		cols[i] = -1
		c, ok := columns[normalName(cell(name))]
		if !ok {
			continue // consignee names and phones are not kept
		}
		if seen[c.f] {
			return nil, false, fmt.Errorf("two %s columns", c.f)
		}
		seen[c.f], cols[i] = true, int(c.f)
		if c.f == fWeight {
			grams = c.grams
		}
	}
	if !seen[fWaybill] {
		return nil, false, fmt.Errorf("no waybill column (运单号 or waybill) among %q", rec)
	}
	if !seen[fSite] && !siteGiven {
		return nil, false, errors.New("no site column (乡镇 or site), and the import names no site")
	}
	return cols, grams, nil
}

// cell trims a value and unwraps Excel's ways of keeping a number as text:
// ="0123" and '0123.
func cell(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 3 && strings.HasPrefix(s, `="`) && strings.HasSuffix(s, `"`) {
		s = strings.TrimSpace(s[2 : len(s)-1])
	}
	if strings.HasPrefix(s, "'") {
		s = strings.TrimSpace(s[1:])
	}
	return s
}

// sniffComma picks the separator the first line has most of.
func sniffComma(text []byte) rune {
	first, _, _ := bytes.Cut(text, []byte{'\n'})
	comma, n := ',', bytes.Count(first, []byte{','})
	for _, c := range []rune{'\t', ';'} {
		if k := bytes.Count(first, []byte(string(c))); k > n {
			comma, n = c, k
		}
	}
	return comma
}

func readJSON(text []byte) ([]row, error) {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("JSON: data after the manifest")
	}
	items, ok := v.([]any)
	if obj, isObj := v.(map[string]any); isObj {
		items, ok = obj["parcels"].([]any)
	}
	if !ok {
		return nil, errors.New(`JSON: want an array of parcels or {"parcels": [...]}`)
	}
	rows := make([]row, 0, len(items))
	for i, it := range items {
		r := row{line: i + 1}
		obj, ok := it.(map[string]any)
		if !ok {
			r.bad = fmt.Sprintf("parcel %d is not a JSON object", i+1)
			rows = append(rows, r)
			continue
		}
		for k, val := range obj {
			c, ok := columns[normalName(k)]
			if !ok {
				continue
			}
			var s string
			switch x := val.(type) {
			case nil:
			case string:
				s = cell(x)
			case json.Number:
				s = x.String()
			default:
				r.bad = fmt.Sprintf("%s: not a string or number", k)
			}
			if s != "" {
				r.v[c.f] = s
				if c.f == fWeight {
					r.grams = c.grams
				}
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}
