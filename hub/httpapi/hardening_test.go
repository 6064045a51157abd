package httpapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/countylink/countylink/hub/manifest"
)

// wantSecurityHeaders are on every answer, whatever its status.
var wantSecurityHeaders = map[string]string{
	"Content-Security-Policy": ContentSecurityPolicy,
	"X-Content-Type-Options":  "nosniff",
	"X-Frame-Options":         "DENY",
	"Referrer-Policy":         "same-origin",
}

// TestSecurityHeaders: the dashboard's pages and scripts, the API, its
// refusals and errors all carry the security headers; HSTS only over
// HTTPS.
func TestSecurityHeaders(t *testing.T) {
	c := newCounty(t)
	for _, tc := range []struct {
		name, method, path, body string
		auth                     bool
		code                     int
	}{
		{"wall screen", "GET", "/", "", false, 200},
		{"login page", "GET", "/login.html", "", false, 200},
		{"script", "GET", "/app.js", "", false, 200},
		{"health", "GET", "/healthz", "", false, 200},
		{"API", "GET", "/api/v1/sites", "", true, 200},
		{"API not found", "GET", "/api/v1/nothing", "", true, 404},
		{"dashboard not found", "GET", "/nothing.html", "", false, 404},
		{"not signed in", "GET", "/api/v1/items", "", false, 401},
		{"bad request", "GET", "/api/v1/parcels/events?limit=x", "", true, 400},
		{"method not allowed", "POST", "/index.html", "", false, 405},
		{"too large", "POST", "/api/v1/sites/tw01/runs", strings.Repeat("x", 2<<20), true, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, c.ts.URL+tc.path, strings.NewReader(tc.body))
			if tc.auth {
				c.access.send(req, "")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.code)
			}
			for k, v := range wantSecurityHeaders {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if h := resp.Header.Get("Strict-Transport-Security"); h != "" {
				t.Errorf("HSTS over plain HTTP: %q", h)
			}
		})
	}
	if !strings.Contains(ContentSecurityPolicy, "script-src 'self';") || strings.Contains(ContentSecurityPolicy, "unsafe-") ||
		!strings.Contains(ContentSecurityPolicy, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", ContentSecurityPolicy)
	}

	// Behind a proxy terminating TLS (public_url https://), and on TLS.
	c.s.HTTPS = true
	https := httptest.NewServer(c.s.Handler())
	defer https.Close()
	tls := httptest.NewTLSServer((&Server{State: c.s.State, Live: c.s.Live, Metrics: c.s.Metrics, Log: c.s.Log}).Handler())
	defer tls.Close()
	for _, u := range []struct {
		url string
		cl  *http.Client
	}{{https.URL, http.DefaultClient}, {tls.URL, tls.Client()}} {
		for _, p := range []string{"/", "/api/v1/nothing"} {
			resp, err := u.cl.Get(u.url + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if h := resp.Header.Get("Strict-Transport-Security"); h != hstsValue {
				t.Errorf("%s%s (%d): HSTS %q", u.url, p, resp.StatusCode, h)
			}
		}
	}
}

// TestBodyLimits: each class of route has its limit, refused with 413 and
// logged: logging in 4 KiB, the JSON routes 64 KiB, the others 1 MiB, the
// manifest import 32 MiB (and not the 1 MiB of the others).
func TestBodyLimits(t *testing.T) {
	c := newCounty(t)
	send := func(method, path, ctype string, body io.Reader, size int64, auth bool) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, c.ts.URL+path, body)
		req.Header.Set("Content-Type", ctype)
		if size >= 0 {
			req.ContentLength = size
		}
		if auth {
			c.access.send(req, "")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	login := `{"name": "admin", "password": "` + strings.Repeat("p", 5<<10) + `"}`
	if code, body := send("POST", "/api/v1/auth/login", "application/json", strings.NewReader(login), -1, false); code != 413 || !strings.Contains(body, "at most 4096 bytes") {
		t.Errorf("5 KiB login: %d %s", code, body)
	}
	if code, body := send("POST", "/api/v1/auth/login", "application/json", strings.NewReader(`{"name": "nobody", "password": "x"}`), -1, false); code != 401 {
		t.Errorf("small login: %d %s", code, body)
	}
	run := `{"route": "r01", "vehicle": "` + strings.Repeat("x", 70<<10) + `"}`
	if code, body := send("POST", "/api/v1/sites/tw01/runs", "application/json", strings.NewReader(run), -1, true); code != 413 || !strings.Contains(body, "at most 65536 bytes") {
		t.Errorf("70 KiB run: %d %.200s", code, body)
	}
	// A command's arguments: the general 1 MiB, by Content-Length and by
	// what is read (chunked).
	big := strings.Repeat("x", 1<<20+1)
	if code, _ := send("POST", "/api/v1/sites/tw01/edges/tw01-e1/commands/ping", "application/json", strings.NewReader(big), -1, true); code != 413 {
		t.Errorf("1 MiB command, with its length: %d", code)
	}
	if code, _ := send("POST", "/api/v1/sites/tw01/edges/tw01-e1/commands/ping", "application/json", io.MultiReader(strings.NewReader(big)), 0, true); code != 413 {
		t.Errorf("1 MiB command, chunked: %d", code)
	}
	// A manifest of 2 MiB goes through (one parcel, then white space).
	m := `[{"waybill": "SF0000000000909", "village": "李家村"}]` + strings.Repeat(" ", 2<<20)
	if code, body := send("POST", "/api/v1/manifests?site=tw01", "application/json", strings.NewReader(m), -1, true); code != 200 {
		t.Errorf("2 MiB manifest: %d %.300s", code, body)
	}
	// One announced over its limit is refused before it is read.
	req, _ := http.NewRequest("POST", c.ts.URL+"/api/v1/manifests?site=tw01", nil)
	c.access.send(req, "")
	conn, err := net.Dial("tcp", strings.TrimPrefix(c.ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/v1/manifests?site=tw01 HTTP/1.1\r\nHost: hub\r\nAuthorization: %s\r\nContent-Type: text/csv\r\nContent-Length: %d\r\n\r\n",
		req.Header.Get("Authorization"), manifest.DefaultMaxBytes+1)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 413 || !strings.Contains(string(b), "at most") {
		t.Errorf("33 MiB manifest: %d %.300s", resp.StatusCode, b)
	}
	if n := strings.Count(c.logs.String(), "reason=too_large"); n < 4 {
		t.Errorf("%d oversized requests logged:\n%s", n, c.logs)
	}
}

// TestPathTraversal: the only route serving files (the dashboard's,
// embedded) refuses every path that is not exactly one of its files with
// 404, logs it, and never serves anything from outside.
func TestPathTraversal(t *testing.T) {
	c := newCounty(t)
	addr := strings.TrimPrefix(c.ts.URL, "http://")
	raw := func(target string) (int, string) {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET "+target+" HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, target := range []string{
		"/../../../../etc/passwd",
		"/static/../dashboard.go",
		"/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
		"/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
		"/..%2f..%2f..%2fetc%2fpasswd",
		"/..%252f..%252fetc%252fpasswd",
		`/..\..\..\etc\passwd`,
		"/%5c..%5c..%5cetc%5cpasswd",
		"//etc/passwd",
		"/etc/passwd",
		"/C:/Windows/win.ini",
		"/app.js%00.html",
		"/./app.js",
		"/api/v1/../../etc/passwd",
		"/api/v1/%2e%2e/%2e%2e/etc/passwd",
	} {
		code, body := raw(target)
		if code != 404 && code != 400 {
			t.Errorf("%s: %d", target, code)
		}
		if strings.Contains(body, "root:") || strings.Contains(body, "package ") || strings.Contains(body, "<html") {
			t.Errorf("%s: served %.100q", target, body)
		}
	}
	logs := c.logs.String()
	for _, p := range []string{"/%2e%2e/%2e%2e/%2e%2e/etc/passwd", `/..%5C..%5C..%5Cetc%5Cpasswd`, "//etc/passwd", "/C:/Windows/win.ini"} {
		if !strings.Contains(logs, "reason=bad_path") || !strings.Contains(logs, "path="+p) {
			t.Errorf("%s not logged as a bad path:\n%s", p, logs)
		}
	}
	if strings.Contains(logs, "reason=no_such_file") {
		t.Errorf("a missing file logged at info:\n%s", logs)
	}
	// The dashboard is still served, and its files.
	for _, p := range []string{"/", "/app.js", "/login.html?next=%2F"} {
		if code, body := raw(p); code != 200 || len(body) == 0 {
			t.Errorf("%s: %d", p, code)
		}
	}
}
