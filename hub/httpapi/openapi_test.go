package httpapi

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPICoversRoutes checks the description against the router: a
// route added without its documentation, or documentation left for a
// route removed, fails here.
func TestOpenAPICoversRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi %q, want 3.0.3", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" || method == "summary" || method == "description" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}

	s := &Server{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	param := regexp.MustCompile(`:([A-Za-z0-9_]+)`)
	registered := map[string]bool{}
	for _, r := range s.routes().Routes() {
		if strings.HasSuffix(r.Path, "/*") {
			continue // the API's 404 and the dashboard
		}
		registered[r.Method+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	if len(registered) < 30 {
		t.Fatalf("only %d routes registered: %v", len(registered), registered)
	}
	var missing, stale []string
	for k := range registered {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !registered[k] {
			stale = append(stale, k)
		}
	}
	slices.Sort(missing)
	slices.Sort(stale)
	for _, k := range missing {
		t.Errorf("route %s is not in openapi.json", k)
	}
	for _, k := range stale {
		t.Errorf("openapi.json documents %s, which no route serves", k)
	}
}

// TestOpenAPIReferences checks that every $ref of the description names
// a component it defines, and that every path parameter is declared.
func TestOpenAPIReferences(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	components := doc["components"].(map[string]any)
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				parts := strings.Split(strings.TrimPrefix(r, "#/components/"), "/")
				group, _ := components[parts[0]].(map[string]any)
				if len(parts) != 2 || group[parts[1]] == nil {
					t.Errorf("%s: $ref %s names nothing", at, r)
				}
			}
			for k, x := range v {
				walk(x, at+"/"+k)
			}
		case []any:
			for _, x := range v {
				walk(x, at)
			}
		}
	}
	walk(doc, "")

	resolve := func(p map[string]any) map[string]any {
		if r, ok := p["$ref"].(string); ok {
			name := strings.TrimPrefix(r, "#/components/parameters/")
			return components["parameters"].(map[string]any)[name].(map[string]any)
		}
		return p
	}
	brace := regexp.MustCompile(`\{([^}]+)\}`)
	for path, item := range doc["paths"].(map[string]any) {
		ops := item.(map[string]any)
		declared := map[string]bool{}
		collect := func(ps any) {
			list, _ := ps.([]any)
			for _, p := range list {
				if p := resolve(p.(map[string]any)); p["in"] == "path" {
					declared[p["name"].(string)] = true
				}
			}
		}
		collect(ops["parameters"])
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			op := op.(map[string]any)
			collect(op["parameters"])
			if op["responses"] == nil || op["summary"] == nil {
				t.Errorf("%s %s: no summary or responses", method, path)
			}
		}
		for _, m := range brace.FindAllStringSubmatch(path, -1) {
			if !declared[m[1]] {
				t.Errorf("%s: path parameter %s is not declared", path, m[1])
			}
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	ts, _ := newServer(t, nil)
	resp, body := get(t, ts.URL+"/api/v1/openapi.json")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
		!strings.Contains(body, `"openapi": "3.0.3"`) {
		t.Fatalf("%d %s %.100s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}
