package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
)

// hubAPI calls the hub's HTTP API with an API token (a bearer token):
// the hub records what the demo's bots do under the token's name.
type hubAPI struct {
	base  string // http://host:port
	token string
	http  *http.Client
}

func newHubAPI(base, token string) *hubAPI {
	return &hubAPI{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{Timeout: 30 * time.Second}}
}

// apiError is an answer of the hub other than the one expected.
type apiError struct {
	Method, Path string
	Status       int
	Msg          string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s %s: hub answered %d %s", e.Method, e.Path, e.Status, e.Msg)
}

// do sends body (JSON, or raw bytes with contentType) to path under
// /api/v1 and decodes a 2xx answer into out (when not nil).
func (h *hubAPI) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case csvBody:
		rd, ct = bytes.NewReader(b), "text/csv"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, h.base+"/api/v1"+path, rd)
	if err != nil {
		return err
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		return &apiError{Method: method, Path: path, Status: resp.StatusCode, Msg: msg}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return nil
}

// csvBody is a request body sent as text/csv.
type csvBody []byte

// hubSite is a site as GET /api/v1/sites lists it.
type hubSite struct {
	ID     string       `json:"id"`
	Name   string       `json:"name"`
	NameEN string       `json:"name_en"`
	Kind   hub.SiteKind `json:"kind"`
	Parent string       `json:"parent"`
	Phase  int          `json:"phase"`
	Online bool         `json:"online"`
}

func (h *hubAPI) sites(ctx context.Context) ([]hubSite, error) {
	var out []hubSite
	return out, h.do(ctx, http.MethodGet, "/sites", nil, &out)
}

func (h *hubAPI) putPlan(ctx context.Context, p *contract.SortPlan) (version string, err error) {
	var out struct {
		Version string   `json:"version"`
		SentTo  []string `json:"sent_to"`
	}
	err = h.do(ctx, http.MethodPut, "/sites/"+p.Site+"/sortplan", p, &out)
	return out.Version, err
}

func (h *hubAPI) putSite(ctx context.Context, s hub.Site) error {
	return h.do(ctx, http.MethodPut, "/sites/"+s.ID, map[string]any{"id": s.ID, "name": s.Name, "name_en": s.NameEN,
		"kind": s.Kind, "parent": s.Parent, "phase": s.Phase}, nil)
}

// manifestReport is the part of a manifest import's answer the demo reads.
type manifestReport struct {
	Batch  string `json:"batch"`
	Report struct {
		Rows     int `json:"rows"`
		Accepted int `json:"accepted"`
		Rejected int `json:"rejected"`
		Errors   []struct {
			Line    int    `json:"line"`
			Waybill string `json:"waybill"`
			Field   string `json:"field"`
			Msg     string `json:"msg"`
		} `json:"errors"`
	} `json:"report"`
}

func (h *hubAPI) postManifest(ctx context.Context, site, name string, csv []byte) (*manifestReport, error) {
	var out manifestReport
	q := url.Values{"format": {"csv"}, "site": {site}, "name": {name}}
	return &out, h.do(ctx, http.MethodPost, "/manifests?"+q.Encode(), csvBody(csv), &out)
}

func (h *hubAPI) board(ctx context.Context, township string) (*hub.Board, error) {
	var b hub.Board
	return &b, h.do(ctx, http.MethodGet, "/sites/"+township+"/board", nil, &b)
}

// runRequest is the body of POST /sites/{site}/runs.
type runRequest struct {
	Route           string  `json:"route"`
	Vehicle         string  `json:"vehicle"`
	Driver          string  `json:"driver"`
	CapacityKg      float64 `json:"capacity_kg"`
	CapacityParcels int     `json:"capacity_parcels"`
}

func (h *hubAPI) openRun(ctx context.Context, township string, r runRequest) (*hub.Run, error) {
	var run hub.Run
	return &run, h.do(ctx, http.MethodPost, "/sites/"+township+"/runs", r, &run)
}

// loadRequest is the body of POST /runs/{id}/load.
type loadRequest struct {
	Waybills []string `json:"waybills,omitempty"`
	Bin      string   `json:"bin,omitempty"`
	FromBin  string   `json:"from_bin,omitempty"`
	Over     bool     `json:"over,omitempty"`
}

func (h *hubAPI) load(ctx context.Context, run string, r loadRequest) (*hub.LoadResult, error) {
	var res hub.LoadResult
	return &res, h.do(ctx, http.MethodPost, "/runs/"+run+"/load", r, &res)
}

func (h *hubAPI) depart(ctx context.Context, run string) (*hub.Run, []*hub.Item, error) {
	var out struct {
		Run        *hub.Run    `json:"run"`
		LeftBehind []*hub.Item `json:"left_behind"`
	}
	err := h.do(ctx, http.MethodPost, "/runs/"+run+"/depart", nil, &out)
	return out.Run, out.LeftBehind, err
}

func (h *hubAPI) closeRun(ctx context.Context, run string) (*hub.Run, []*hub.Item, error) {
	var out struct {
		Run         *hub.Run    `json:"run"`
		Undelivered []*hub.Item `json:"undelivered"`
	}
	err := h.do(ctx, http.MethodPost, "/runs/"+run+"/close", nil, &out)
	return out.Run, out.Undelivered, err
}

// runs lists a township's runs in some states.
func (h *hubAPI) runs(ctx context.Context, township, states string) ([]*hub.Run, error) {
	var out []*hub.Run
	q := url.Values{"state": {states}, "limit": {"500"}}
	return out, h.do(ctx, http.MethodGet, "/sites/"+township+"/runs?"+q.Encode(), nil, &out)
}

// items lists items by the query parameters of GET /api/v1/items.
func (h *hubAPI) items(ctx context.Context, q url.Values) ([]*hub.Item, error) {
	var out []*hub.Item
	return out, h.do(ctx, http.MethodGet, "/items?"+q.Encode(), nil, &out)
}
