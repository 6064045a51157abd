package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/auth"
)

// SiteEditor adds and edits the sites of the network (the sites file). It
// checks the site, keeps it and records the change in the audit log; its
// errors wrap hub.ErrInvalidIn (400), hub.ErrNotFound (404) or
// hub.ErrConflict (409) when the caller can do something about them.
type SiteEditor interface {
	PutSite(ctx context.Context, s hub.Site, by string) (created bool, err error)
}

// Limits of the logistics routes' parameters.
const (
	DefaultItemLimit  = 100
	MaxItemLimit      = 1000
	DefaultRunLimit   = 50
	MaxRunLimit       = 500
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
	MaxLoadWaybills   = 500             // waybills in one load or unload
	MaxCapacityKg     = 100000          // a run's weight capacity
	MaxCapacityParcel = 100000          // a run's parcel capacity
	MaxPeriodDays     = 366             // days of one figures or produce query
	MaxScanAhead      = 5 * time.Minute // how far a scan's time may be ahead of the hub's clock
	maxBodyBytes      = 64 << 10        // a logistics request's body
	maxActorLen       = contract.MaxIDLen
)

// Audit actions of the routes here (the site editor records site.put).
const (
	AuditRunOpen     = "run.open"
	AuditRunLoad     = "run.load"
	AuditRunUnload   = "run.unload"
	AuditRunDepart   = "run.depart"
	AuditRunClose    = "run.close"
	AuditSortPlanPut = "sortplan.put"
)

const (
	scanEdge    = "api"      // the edge of the events the scans route records
	scanStation = "handheld" // their station when the device names none
	csvBOM      = "\ufeff"   // lets Excel read a CSV file as UTF-8
	dayLayout   = "2006-01-02"
)

// itemStates and itemFlags are the values the item query takes.
var (
	itemStates = []string{hub.StateAnnounced, hub.StateReceived, hub.StateSorted, hub.StateConfirmed, hub.StateException,
		hub.StateLoaded, hub.StateDispatched, hub.StateArrived, hub.StatePickedUp, hub.StateDamaged, hub.StateReturned,
		hub.StateLotWeighed, hub.StateLotReceived, hub.StateLotPacked, hub.StateLotShipped}
	itemFlags = []string{hub.FlagUnannounced, hub.FlagOtherSite, hub.FlagScannedTwice, hub.FlagWrongBin,
		hub.FlagWrongRoute, hub.FlagWrongVillage, hub.FlagOverweight, hub.FlagCorrected}
	runStates = []string{hub.RunOpen, hub.RunDeparted, hub.RunClosed}
)

func (s *Server) logisticsRoutes(api *echo.Group) {
	api.GET("/items", s.listItems)
	api.GET("/items/:id", s.item)
	api.POST("/sites/:site/runs", s.openRun)
	api.GET("/sites/:site/runs", s.listRuns)
	api.GET("/runs", s.listRuns)
	api.GET("/runs/:id", s.getRun)
	api.POST("/runs/:id/load", s.loadRun)
	api.POST("/runs/:id/unload", s.unloadRun)
	api.POST("/runs/:id/depart", s.departRun)
	api.POST("/runs/:id/close", s.closeRun)
	api.GET("/sites/:site/board", s.board)
	api.GET("/board", s.board)
	api.POST("/sites/:site/scans", s.scan)
	api.PUT("/sites/:site", s.putSite)
	api.GET("/figures", s.figures)
	api.GET("/produce", s.produce)
	api.GET("/audit", s.auditLog)
}

func (s *Server) logistics() (hub.LogisticsStore, error) {
	if s.Logistics == nil {
		return nil, echo.NewHTTPError(http.StatusServiceUnavailable, "the logistics store is not available")
	}
	return s.Logistics, nil
}

func (s *Server) loc() *time.Location {
	if s.Location == nil {
		return time.Local
	}
	return s.Location
}

// actor is who acts in a request, as the audit log and the records
// (runs, scans, acknowledgements) name them: the principal the route
// rules authenticated (a person's name, "api:<token name>",
// "kiosk:<screen>"). Every route that calls it has a rule that needs a
// principal; without one (a route made public by mistake) it refuses.
func actor(c echo.Context) (string, error) {
	if p := principal(c); p != nil {
		return p.Name, nil
	}
	return "", echo.NewHTTPError(http.StatusUnauthorized, "authentication required")
}

// validName reports whether v may name a person (auth.ValidName).
func validName(v string) bool { return auth.ValidName(v) }

// validText reports whether v is free text of at most max bytes: valid
// UTF-8 without control characters.
func validText(v string, max int) bool {
	return len(v) <= max && utf8.ValidString(v) && strings.IndexFunc(v, unicode.IsControl) < 0
}

// decodeBody reads a JSON object of at most maxBodyBytes into v, refusing
// unknown members: 400 naming the expected shape, 413 when too long. An empty body is left
// as v's zero value when optional.
func decodeBody(c echo.Context, v any, shape string, optional bool) error {
	return decodeBodyMax(c, v, shape, optional, maxBodyBytes)
}

// decodeBodyMax is decodeBody with a body of at most max bytes: 413 for
// a longer one.
func decodeBodyMax(c echo.Context, v any, shape string, optional bool, max int64) error {
	b, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, max))
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("the body must be %s of at most %d bytes", shape, max))
	}
	if err != nil {
		return badRequest("the body must be %s: %v", shape, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if optional {
			return nil
		}
		return badRequest("the body must be %s", shape)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("the body must be %s: %v", shape, err)
	}
	if dec.Decode(&struct{}{}) != io.EOF {
		return badRequest("the body must be one JSON object, %s", shape)
	}
	return nil
}

// idQuery is an optional id query parameter: "" when absent, 400 when it
// is no valid id.
func idQuery(c echo.Context, name string) (string, error) {
	v := c.QueryParam(name)
	if v != "" && !contract.ValidID(v) {
		return "", badRequest("%s %q is not a valid id", name, clip(v))
	}
	return v, nil
}

// listQuery is an optional comma-separated query parameter whose values
// must be among allowed.
func listQuery(c echo.Context, name string, allowed []string) ([]string, error) {
	v := c.QueryParam(name)
	if v == "" {
		return nil, nil
	}
	var out []string
	for x := range strings.SplitSeq(v, ",") {
		x = strings.TrimSpace(x)
		if !slices.Contains(allowed, x) {
			return nil, badRequest("%s %q must be one or more of %s, separated by commas", name, clip(x), strings.Join(allowed, ", "))
		}
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out, nil
}

// siteKind is the kind of a configured site, "" when unknown.
func (s *Server) siteKind(id string) hub.SiteKind {
	for _, v := range s.State.Sites() {
		if v.ID == id {
			return v.Kind
		}
	}
	return ""
}

// township checks a township's id as site does, and that it is one.
func (s *Server) township(id string) error {
	if err := s.site(id); err != nil {
		return err
	}
	if k := s.siteKind(id); k != hub.Township {
		return badRequest("%s is a %s, not a township", id, k)
	}
	return nil
}

// waybills normalises a list of waybills (normWaybill), dropping repeats:
// 400 when it is empty or longer than MaxLoadWaybills.
func waybills(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, badRequest("waybills is empty")
	}
	if len(in) > MaxLoadWaybills {
		return nil, badRequest("%d waybills, at most %d at a time", len(in), MaxLoadWaybills)
	}
	out := make([]string, 0, len(in))
	for _, v := range in {
		wb, err := normWaybill(v)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, wb) {
			out = append(out, wb)
		}
	}
	return out, nil
}

// audit records a change in the audit log. The change is made when it is
// called: a failure to record it is logged, and the caller still gets the
// answer of what it did.
func (s *Server) audit(ctx context.Context, by, action, site, target string, detail any) {
	if s.Logistics == nil {
		return
	}
	b, err := json.Marshal(detail)
	if err == nil {
		err = s.Logistics.Audit(ctx, hub.AuditEntry{At: time.Now(), By: by, Action: action, Site: site, Target: target, Detail: string(b)})
	}
	if err != nil {
		s.Log.Error("audit entry not recorded", "action", action, "site", site, "target", target, "by", by, "err", err)
	}
}

// listItems lists items, most recent event first: GET /items with
// township, site, route, bin, run (ids), state (one or more, by commas),
// flag, lot (true or false) and limit.
func (s *Server) listItems(c echo.Context) error {
	lg, err := s.logistics()
	if err != nil {
		return err
	}
	var q hub.ItemQuery
	if v := c.QueryParam("township"); v != "" {
		if err := s.township(v); err != nil {
			return err
		}
		q.Township = v
	}
	if q.Site, err = s.siteQuery(c); err != nil {
		return err
	}
	if tw := ownTownship(c); tw != "" {
		q.Township = tw // the rules checked that a township or site given is theirs
	}
	for _, p := range []struct {
		name string
		v    *string
	}{{"route", &q.Route}, {"bin", &q.Bin}, {"run", &q.Run}} {
		if *p.v, err = idQuery(c, p.name); err != nil {
			return err
		}
	}
	if q.States, err = listQuery(c, "state", itemStates); err != nil {
		return err
	}
	if v := c.QueryParam("flag"); v != "" {
		if !slices.Contains(itemFlags, v) {
			return badRequest("flag %q must be one of %s", clip(v), strings.Join(itemFlags, ", "))
		}
		q.Flag = v
	}
	if v := c.QueryParam("lot"); v != "" {
		if v != "true" && v != "false" {
			return badRequest("lot %q must be true or false", clip(v))
		}
		lot := v == "true"
		q.Lot = &lot
	}
	if q.Limit, err = limitQuery(c, DefaultItemLimit, MaxItemLimit); err != nil {
		return err
	}
	its, err := lg.Items(c.Request().Context(), q)
	if err != nil {
		return err
	}
	if its == nil {
		its = []*hub.Item{}
	}
	return c.JSON(http.StatusOK, its)
}

// openRunRequest is the body of POST /sites/:site/runs.
type openRunRequest struct {
	Route           string  `json:"route"`
	Vehicle         string  `json:"vehicle"`
	Driver          string  `json:"driver"`
	CapacityKg      float64 `json:"capacity_kg"`
	CapacityParcels int     `json:"capacity_parcels"`
}

// openRun opens a run of a township's route: 201 with the run.
func (s *Server) openRun(c echo.Context) error {
	lg, err := s.logistics()
	if err != nil {
		return err
	}
	site := c.Param("site")
	if err := s.township(site); err != nil {
		return err
	}
	by, err := actor(c)
	if err != nil {
		return err
	}
	var req openRunRequest
	if err := decodeBody(c, &req, `{"route": "r01", "vehicle": "赣C12345", "driver": "李师傅", "capacity_kg": 800, "capacity_parcels": 200}`, false); err != nil {
		return err
	}
	req.Vehicle, req.Driver = strings.TrimSpace(req.Vehicle), strings.TrimSpace(req.Driver)
	switch {
	case !contract.ValidID(req.Route):
		return badRequest("route %q is not a valid id", clip(req.Route))
	case !validText(req.Vehicle, contract.MaxIDLen):
		return badRequest("vehicle must be at most %d bytes of text", contract.MaxIDLen)
	case !validText(req.Driver, contract.MaxIDLen):
		return badRequest("driver must be at most %d bytes of text", contract.MaxIDLen)
	case math.IsNaN(req.CapacityKg) || req.CapacityKg < 0 || req.CapacityKg > MaxCapacityKg:
		return badRequest("capacity_kg %v must be from 0 (no limit) to %d", req.CapacityKg, MaxCapacityKg)
	case req.CapacityParcels < 0 || req.CapacityParcels > MaxCapacityParcel:
		return badRequest("capacity_parcels %d must be from 0 (no limit) to %d", req.CapacityParcels, MaxCapacityParcel)
	}
	run, err := lg.OpenRun(c.Request().Context(), &hub.Run{Site: site, Route: req.Route, Vehicle: req.Vehicle, Driver: req.Driver,
		CapacityKg: req.CapacityKg, CapacityParcels: req.CapacityParcels, By: by, Opened: time.Now()})
	if err != nil {
		return err
	}
	s.audit(c.Request().Context(), by, AuditRunOpen, run.Site, run.ID, req)
	return c.JSON(http.StatusCreated, run)
}

// listRuns lists runs, newest first: of one township (the path's site, or
// the site query parameter of GET /runs), state (one or more, by commas),
// route, since (RFC 3339 or a date in the county's time zone) and limit.
func (s *Server) listRuns(c echo.Context) error {
	lg, err := s.logistics()
	if err != nil {
		return err
	}
	var q hub.RunQuery
	if q.Site = c.Param("site"); q.Site != "" {
		err = s.site(q.Site)
	} else {
		q.Site, err = s.siteQuery(c)
	}
	if err != nil {
		return err
	}
	if q.Site == "" {
		q.Site = ownTownship(c) // a run's site is its township
	}
	if q.Route, err = idQuery(c, "route"); err != nil {
		return err
	}
	if q.States, err = listQuery(c, "state", runStates); err != nil {
		return err
	}
	if v := c.QueryParam("since"); v != "" {
		if q.Since, err = parseTime(v, s.loc(), time.Time{}); err != nil {
			return badRequest("since: %v", err)
		}
	}
	if q.Limit, err = limitQuery(c, DefaultRunLimit, MaxRunLimit); err != nil {
		return err
	}
	runs, err := lg.Runs(c.Request().Context(), q)
	if err != nil {
		return err
	}
	if runs == nil {
		runs = []*hub.Run{}
	}
	return c.JSON(http.StatusOK, runs)
}

// runID is the path's run id: 400 unless it is a valid id.
func runID(c echo.Context) (string, error) {
	id := c.Param("id")
	if !contract.ValidID(id) {
		return "", badRequest("run %q is not a valid id", clip(id))
	}
	return id, nil
}

// runErr turns a run action's error into the caller's answer: 404 naming
// the run, 409 saying which state it is in and what the action needs; the
// store's other errors go through codes as they are.
func (s *Server) runErr(ctx context.Context, id, need string, err error) error {
	switch {
	case errors.Is(err, hub.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, "no run "+id)
	case errors.Is(err, hub.ErrConflict):
		if r, e := s.Logistics.Run(ctx, id); e == nil && r != nil {
			return echo.NewHTTPError(http.StatusConflict, fmt.Sprintf("run %s is %s: %s", id, r.State, need))
		}
	}
	return err
}

func (s *Server) getRun(c echo.Context) error {
	lg, err := s.logistics()
	if err != nil {
		return err
	}
	id, err := runID(c)
	if err != nil {
		return err
	}
	run, err := lg.Run(c.Request().Context(), id)
	if err == nil && run == nil {
		err = hub.ErrNotFound
	}
	if err != nil {
		return s.runErr(c.Request().Context(), id, "", err)
	}
	return c.JSON(http.StatusOK, run)
}

// loadRequest is the body of POST /runs/:id/load.
type loadRequest struct {
	Waybills []string `json:"waybills"`
	Bin      string   `json:"bin"`
	FromBin  string   `json:"from_bin"`
	Over     bool     `json:"over"`
}

// runAction is what every run action starts with: the store, the run's id
// and who acts.
func (s *Server) runAction(c echo.Context) (lg hub.LogisticsStore, id, by string, err error) {
	if lg, err = s.logistics(); err != nil {
		return
	}
	if id, err = runID(c); err != nil {
		return
	}
	by, err = actor(c)
	return
}

// loadRun loads parcels onto an open run: those scanned at the vehicle
// (waybills, with the bin they were taken from when known), or every
// parcel waiting in a bin. It answers 200 with what it loaded and
// refused, parcel by parcel; 409 when the run is no longer open.
func (s *Server) loadRun(c echo.Context) error {
	lg, id, by, err := s.runAction(c)
	if err != nil {
		return err
	}
	var req loadRequest
	if err := decodeBody(c, &req, `{"waybills": ["SF1234567890123"], "from_bin": "b01", "over": false} or {"bin": "b01"}`, false); err != nil {
		return err
	}
	switch {
	case len(req.Waybills) == 0 && req.Bin == "":
		return badRequest("nothing to load: give the waybills scanned or a bin")
	case len(req.Waybills) > 0 && req.Bin != "":
		return badRequest("give the waybills scanned or a bin, not both")
	case req.Bin != "" && !contract.ValidID(req.Bin):
		return badRequest("bin %q is not a valid id", clip(req.Bin))
	case req.FromBin != "" && (req.Bin != "" || !contract.ValidID(req.FromBin)):
		return badRequest("from_bin %q must be a valid id, and goes with waybills", clip(req.FromBin))
	}
	if len(req.Waybills) > 0 {
		if req.Waybills, err = waybills(req.Waybills); err != nil {
			return err
		}
	}
	res, err := lg.LoadRun(c.Request().Context(), hub.LoadRequest{Run: id, Waybills: req.Waybills, Bin: req.Bin,
		FromBin: req.FromBin, By: by, Over: req.Over, At: time.Now()})
	if err != nil {
		return s.runErr(c.Request().Context(), id, "only an open run is loaded", err)
	}
	tidy(res)
	s.audit(c.Request().Context(), by, AuditRunLoad, runSite(res.Run), id, map[string]any{
		"waybills": len(req.Waybills), "bin": req.Bin, "from_bin": req.FromBin, "over": req.Over,
		"loaded": len(res.Loaded), "refused": len(res.Refused), "warnings": len(res.Warnings)})
	return c.JSON(http.StatusOK, res)
}

// unloadRun takes parcels off an open run, back to waiting in their bins.
func (s *Server) unloadRun(c echo.Context) error {
	lg, id, by, err := s.runAction(c)
	if err != nil {
		return err
	}
	var req struct {
		Waybills []string `json:"waybills"`
	}
	if err := decodeBody(c, &req, `{"waybills": ["SF1234567890123"]}`, false); err != nil {
		return err
	}
	if req.Waybills, err = waybills(req.Waybills); err != nil {
		return err
	}
	res, err := lg.UnloadRun(c.Request().Context(), id, req.Waybills, by, time.Now())
	if err != nil {
		return s.runErr(c.Request().Context(), id, "only an open run is unloaded", err)
	}
	tidy(res)
	s.audit(c.Request().Context(), by, AuditRunUnload, runSite(res.Run), id, map[string]any{
		"waybills": len(req.Waybills), "unloaded": len(res.Loaded), "refused": len(res.Refused)})
	return c.JSON(http.StatusOK, res)
}

// departRun sends an open run on the road. It answers the run and the
// parcels of its route left waiting in the bins.
func (s *Server) departRun(c echo.Context) error {
	lg, id, by, err := s.runAction(c)
	if err != nil {
		return err
	}
	if err := decodeBody(c, &struct{}{}, "empty or {}", true); err != nil {
		return err
	}
	run, left, err := lg.DepartRun(c.Request().Context(), id, by, time.Now())
	if err != nil {
		return s.runErr(c.Request().Context(), id, "only an open run departs", err)
	}
	if left == nil {
		left = []*hub.Item{}
	}
	s.audit(c.Request().Context(), by, AuditRunDepart, runSite(run), id, map[string]any{
		"parcels": runParcels(run), "left_behind": len(left)})
	return c.JSON(http.StatusOK, map[string]any{"run": run, "left_behind": left})
}

// closeRun closes a run back from the road. It answers the run and the
// parcels it took that no village point scanned in.
func (s *Server) closeRun(c echo.Context) error {
	lg, id, by, err := s.runAction(c)
	if err != nil {
		return err
	}
	if err := decodeBody(c, &struct{}{}, "empty or {}", true); err != nil {
		return err
	}
	run, undelivered, err := lg.CloseRun(c.Request().Context(), id, by, time.Now())
	if err != nil {
		return s.runErr(c.Request().Context(), id, "only a run on the road closes", err)
	}
	if undelivered == nil {
		undelivered = []*hub.Item{}
	}
	s.audit(c.Request().Context(), by, AuditRunClose, runSite(run), id, map[string]any{
		"parcels": runParcels(run), "undelivered": len(undelivered)})
	return c.JSON(http.StatusOK, map[string]any{"run": run, "undelivered": undelivered})
}

func runSite(r *hub.Run) string {
	if r == nil {
		return ""
	}
	return r.Site
}

func runParcels(r *hub.Run) int {
	if r == nil {
		return 0
	}
	return r.Parcels
}

// tidy gives a load result's lists as empty rather than null.
func tidy(res *hub.LoadResult) {
	if res.Loaded == nil {
		res.Loaded = []string{}
	}
	if res.Refused == nil {
		res.Refused = []hub.Refusal{}
	}
	if res.Warnings == nil {
		res.Warnings = []string{}
	}
}

// board is a township's dispatch board (GET /sites/:site/board), or the
// county's, every township's routes (GET /board).
func (s *Server) board(c echo.Context) error {
	lg, err := s.logistics()
	if err != nil {
		return err
	}
	site := c.Param("site")
	if site != "" {
		if err := s.township(site); err != nil {
			return err
		}
	} else {
		site = ownTownship(c) // the county's board, of a principal of one township: theirs
	}
	b, err := lg.Board(c.Request().Context(), site)
	if err != nil {
		return err
	}
	if b.Routes == nil {
		b.Routes = []hub.BoardRoute{}
	}
	return c.JSON(http.StatusOK, b)
}

// scanRequest is the body of POST /sites/:site/scans.
type scanRequest struct {
	Kind     string   `json:"kind"`
	Waybill  string   `json:"waybill"`
	Station  string   `json:"station"`
	TS       string   `json:"ts"`
	By       string   `json:"by"`
	Note     string   `json:"note"`
	Run      string   `json:"run"`
	Route    string   `json:"route"`
	Bin      string   `json:"bin"`
	WeightKg *float64 `json:"weight_kg"`
	Producer string   `json:"producer"`
	Product  string   `json:"product"`
	Grade    string   `json:"grade"`
}

// scan records what a handheld or a village point's phone scanned: a
// parcel received, loaded, arrived, picked up, damaged or returned, or a
// farm product lot weighed, received, packed or shipped. The sort
// decisions (sorted, confirmed) come only from the scanner stations, over
// MQTT. The event is checked by the rules of the stations' events
// (contract.DecodeEvent); it answers 201 with the stored event and the
// item as it stands after it.
func (s *Server) scan(c echo.Context) error {
	lg, err := s.logistics()
	if err != nil {
		return err
	}
	site := c.Param("site")
	if err := s.site(site); err != nil {
		return err
	}
	by, err := actor(c)
	if err != nil {
		return err
	}
	var req scanRequest
	if err := decodeBody(c, &req, `{"kind": "arrived", "waybill": "SF1234567890123"}`, false); err != nil {
		return err
	}
	switch {
	case req.Kind == contract.EventSorted || req.Kind == contract.EventConfirmed:
		return badRequest("%s events come only from the scanner stations, over MQTT", req.Kind)
	case !slices.Contains(contract.EventKinds, req.Kind):
		return badRequest("kind %q must be one of %s", clip(req.Kind), strings.Join(scanKinds(), ", "))
	}
	wb, err := normWaybill(req.Waybill)
	if err != nil {
		return err
	}
	station := scanStation
	if req.Station != "" {
		if !contract.ValidID(req.Station) {
			return badRequest("station %q is not a valid id", clip(req.Station))
		}
		station = req.Station
	}
	if req.By != "" {
		if !validName(req.By) {
			return badRequest("by %q must be 1 to %d bytes of letters or printable ASCII without spaces", clip(req.By), maxActorLen)
		}
		// A device with an API token (a village point's phone, a
		// handheld) names the person who scanned; a person signed in
		// scans as themselves.
		if p := principal(c); p != nil && p.Via == auth.ViaToken {
			by = req.By
		}
	}
	now := time.Now()
	ts := now
	if req.TS != "" {
		if ts, err = time.Parse(time.RFC3339Nano, req.TS); err != nil {
			return badRequest("ts %q is not an RFC 3339 time such as 2026-11-29T08:00:00+08:00", clip(req.TS))
		}
		if ts.After(now.Add(MaxScanAhead)) {
			return badRequest("ts %s is more than %v ahead of the hub's clock (%s)", req.TS, MaxScanAhead, now.Format(time.RFC3339))
		}
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"note", req.Note, contract.MaxTextLen}, {"producer", req.Producer, contract.MaxTextLen},
		{"product", req.Product, contract.MaxTextLen}, {"grade", req.Grade, contract.MaxIDLen}} {
		if !validText(f.v, f.max) {
			return badRequest("%s must be at most %d bytes of text", f.name, f.max)
		}
	}
	id, err := scanID()
	if err != nil {
		return err
	}
	ce := &contract.ParcelEvent{Header: contract.Header{V: contract.SchemaVersion, ID: id, Site: site, Edge: scanEdge, TS: ts, Sent: now},
		Kind: req.Kind, Station: station, Waybill: wb, Route: req.Route, Bin: req.Bin, WeightKg: req.WeightKg,
		Run: req.Run, By: by, Note: req.Note, Producer: req.Producer, Product: req.Product, Grade: req.Grade}
	payload, err := contract.Encode(ce)
	if err == nil {
		_, err = contract.DecodeEvent(contract.Topic{Prefix: contract.DefaultPrefix, Site: site, Edge: scanEdge, Kind: contract.KindEvent, Name: station}, payload)
	}
	if err != nil {
		return badRequest("%s event: %v", req.Kind, err)
	}
	ctx := c.Request().Context()
	if req.Kind == contract.EventLoaded {
		// A loaded scan names an open run; POST /runs/:id/load also checks
		// the run's capacity and route.
		run, err := lg.Run(ctx, req.Run)
		if errors.Is(err, hub.ErrNotFound) || err == nil && run == nil {
			return badRequest("no run %s", req.Run)
		}
		if err != nil {
			return err
		}
		if run.State != hub.RunOpen {
			return echo.NewHTTPError(http.StatusConflict, fmt.Sprintf("run %s is %s, not open", run.ID, run.State))
		}
	}
	ev := &hub.ParcelEvent{ID: id, Site: site, Edge: scanEdge, Station: station, Kind: req.Kind, Waybill: wb,
		Route: req.Route, Bin: req.Bin, WeightKg: req.WeightKg, TS: ts, Recv: now,
		Run: req.Run, By: by, Note: req.Note, Producer: req.Producer, Product: req.Product, Grade: req.Grade}
	stored, err := lg.SaveEvents(ctx, []*hub.ParcelEvent{ev})
	if err != nil {
		return err
	}
	s.State.ApplyEvents(stored)
	if p := principal(c); p != nil {
		s.audit(ctx, p.Name, AuditScan, site, wb, map[string]any{"kind": req.Kind, "by": by, "event": id})
	}
	it, err := lg.Item(ctx, wb)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"event": ev, "item": it})
}

// scanKinds are the kinds the scans route takes.
func scanKinds() []string {
	var out []string
	for _, k := range contract.EventKinds {
		if k != contract.EventSorted && k != contract.EventConfirmed {
			out = append(out, k)
		}
	}
	return out
}

// scanID is a new event id for the scans route: "api-" and 24 random hex
// digits, apart from every edge's (which start with the edge's id).
func scanID() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("event id: %w", err)
	}
	return "api-" + hex.EncodeToString(b), nil
}

// putSite adds a site or changes one: 201 when it is new, 200 when it
// changed, with the site.
func (s *Server) putSite(c echo.Context) error {
	if s.Sites == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "editing sites is not available")
	}
	id := c.Param("site")
	if !contract.ValidID(id) {
		return badRequest("site %q is not a valid id", clip(id))
	}
	by, err := actor(c)
	if err != nil {
		return err
	}
	var req struct {
		ID     string       `json:"id"`
		Name   string       `json:"name"`
		NameEN string       `json:"name_en"`
		Kind   hub.SiteKind `json:"kind"`
		Parent string       `json:"parent"`
		Phase  int          `json:"phase"`
	}
	if err := decodeBody(c, &req, `{"id": "tw01-v09", "name": "新村", "name_en": "Xincun", "kind": "village", "parent": "tw01", "phase": 2}`, false); err != nil {
		return err
	}
	req.Name, req.NameEN = strings.TrimSpace(req.Name), strings.TrimSpace(req.NameEN)
	switch {
	case req.ID != id:
		return badRequest("the body's id %q must be the path's, %s", clip(req.ID), id)
	case req.Name == "" || !validText(req.Name, contract.MaxTextLen):
		return badRequest("name must be 1 to %d bytes of text", contract.MaxTextLen)
	case !validText(req.NameEN, contract.MaxTextLen):
		return badRequest("name_en must be at most %d bytes of text", contract.MaxTextLen)
	case !slices.Contains([]hub.SiteKind{hub.County, hub.Township, hub.Village}, req.Kind):
		return badRequest("kind %q must be county, township or village", clip(string(req.Kind)))
	case req.Parent != "" && (!contract.ValidID(req.Parent) || req.Parent == id):
		return badRequest("parent %q must be the id of another site", clip(req.Parent))
	case req.Phase < 0 || req.Phase > 1000:
		return badRequest("phase %d must be from 0 to 1000", req.Phase)
	}
	site := hub.Site{ID: id, Name: req.Name, NameEN: req.NameEN, Kind: req.Kind, Parent: req.Parent, Phase: req.Phase}
	created, err := s.Sites.PutSite(c.Request().Context(), site, by)
	if err != nil {
		return err
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	return c.JSON(code, site)
}

// period reads the from and to query parameters, days in the county's
// time zone (2026-11-29), to included: today when both are absent, from
// alone runs to today, to alone is one day. It returns the midnight that
// starts from and the one that ends to, and the days as given.
func (s *Server) period(c echo.Context) (start, end time.Time, from, to string, err error) {
	loc := s.loc()
	day := func(name, def string) (time.Time, string, error) {
		v := c.QueryParam(name)
		if v == "" {
			v = def
		}
		t, err := time.ParseInLocation(dayLayout, v, loc)
		if err != nil {
			return t, v, badRequest("%s %q is not a date such as 2026-11-29", name, clip(v))
		}
		return t, v, nil
	}
	var t0, t1 time.Time
	if t1, to, err = day("to", time.Now().In(loc).Format(dayLayout)); err != nil {
		return
	}
	if t0, from, err = day("from", to); err != nil {
		return
	}
	// Count in calendar days: a day of a clock change is not 24 hours.
	y0, m0, d0 := t0.Date()
	y1, m1, d1 := t1.Date()
	days := int(time.Date(y1, m1, d1, 0, 0, 0, 0, time.UTC).Sub(time.Date(y0, m0, d0, 0, 0, 0, 0, time.UTC)).Hours()/24) + 1
	if days < 1 || days > MaxPeriodDays {
		err = badRequest("from %s to %s must run forward and cover at most %d days", from, to, MaxPeriodDays)
		return
	}
	return t0, time.Date(y1, m1, d1+1, 0, 0, 0, 0, loc), from, to, nil
}

// townshipQuery is the optional township query parameter: "" when absent.
func (s *Server) townshipQuery(c echo.Context) (string, error) {
	v := c.QueryParam("township")
	if v == "" {
		return "", nil
	}
	return v, s.township(v)
}

// formatQuery is the format query parameter: json (the default) or csv.
func formatQuery(c echo.Context) (string, error) {
	switch f := c.QueryParam("format"); f {
	case "", "json":
		return "json", nil
	case "csv":
		return "csv", nil
	default:
		return "", badRequest("format %q must be json or csv", clip(f))
	}
}

// figures are the townships' figures by day: from, to (days, to included;
// today by default, at most 366 days), township, format json or csv.
func (s *Server) figures(c echo.Context) error {
	return dayReport(s, c, "figures", hub.LogisticsStore.Figures, func(r hub.DayFigures) string { return r.Township })
}

// produce is the farm product weighed at the village points by day, with
// the conventions of figures.
func (s *Server) produce(c echo.Context) error {
	return dayReport(s, c, "produce", hub.LogisticsStore.Produce, func(r hub.ProduceTotal) string { return r.Township })
}

// dayReport answers a report by day (figures, produce): the period, the
// township filter and the format from the query, the rows from query.
func dayReport[T any](s *Server, c echo.Context, name string,
	query func(hub.LogisticsStore, context.Context, time.Time, time.Time, *time.Location) ([]T, error),
	township func(T) string) error {
	lg, err := s.logistics()
	if err != nil {
		return err
	}
	start, end, from, to, err := s.period(c)
	if err != nil {
		return err
	}
	tw, err := s.townshipQuery(c)
	if err != nil {
		return err
	}
	if own := ownTownship(c); own != "" {
		tw = own // the rules checked that a township given is theirs
	}
	format, err := formatQuery(c)
	if err != nil {
		return err
	}
	rows, err := query(lg, c.Request().Context(), start, end, s.loc())
	if err != nil {
		return err
	}
	out := []T{}
	for _, r := range rows {
		if tw == "" || township(r) == tw {
			out = append(out, r)
		}
	}
	return answer(c, format, name+"-"+from+"-"+to, out)
}

// answer sends rows as JSON, or as a CSV file named name.csv.
func answer[T any](c echo.Context, format, name string, rows []T) error {
	if format != "csv" {
		return c.JSON(http.StatusOK, rows)
	}
	var b bytes.Buffer
	b.WriteString(csvBOM)
	if err := writeCSV(&b, rows); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`.csv"`)
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", b.Bytes())
}

// writeCSV writes rows, structs of strings and numbers, as CSV: a header
// row of their JSON names, then a row each. A text that a spreadsheet
// would take for a formula (=, +, -, @) is written with a leading '.
func writeCSV[T any](w io.Writer, rows []T) error {
	t := reflect.TypeFor[T]()
	var cols []int
	var head []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		cols, head = append(cols, i), append(head, name)
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	cw.Write(head)
	rec := make([]string, len(cols))
	for _, r := range rows {
		v := reflect.ValueOf(r)
		for j, i := range cols {
			f := v.Field(i)
			switch f.Kind() {
			case reflect.String:
				rec[j] = f.String()
				if rec[j] != "" && strings.ContainsRune("=+-@\t\r", rune(rec[j][0])) {
					rec[j] = "'" + rec[j]
				}
			case reflect.Int, reflect.Int64:
				rec[j] = strconv.FormatInt(f.Int(), 10)
			case reflect.Float64:
				rec[j] = strconv.FormatFloat(f.Float(), 'f', -1, 64)
			case reflect.Bool:
				rec[j] = strconv.FormatBool(f.Bool())
			default:
				return fmt.Errorf("csv: column %s of %s has no text form", head[j], t)
			}
		}
		cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}

// auditLog lists the audit log, newest first: site, action (run.load...),
// before (a seq, to page back) and limit.
func (s *Server) auditLog(c echo.Context) error {
	lg, err := s.logistics()
	if err != nil {
		return err
	}
	var q hub.AuditQuery
	// A site removed from the sites file keeps its entries: the id is
	// checked, not that the site is known.
	if q.Site, err = idQuery(c, "site"); err != nil {
		return err
	}
	if v := c.QueryParam("action"); v != "" {
		if len(v) > contract.MaxIDLen || strings.IndexFunc(v, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
		}) >= 0 {
			return badRequest("action %q is not an action such as run.load", clip(v))
		}
		q.Action = v
	}
	if v := c.QueryParam("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return badRequest("before %q must be the seq of an entry, a number from 1", clip(v))
		}
		q.Before = n
	}
	if q.Limit, err = limitQuery(c, DefaultAuditLimit, MaxAuditLimit); err != nil {
		return err
	}
	es, err := lg.AuditLog(c.Request().Context(), q)
	if err != nil {
		return err
	}
	// A township coordinator reads the entries of their township's sites
	// (a coarse filter: a page may hold fewer than limit, and entries of
	// no site, the logins, are the county's).
	out := []hub.AuditEntry{}
	for _, e := range es {
		if s.inTownship(ownTownship(c), e.Site) {
			out = append(out, e)
		}
	}
	return c.JSON(http.StatusOK, out)
}
