// Package httpapi serves the hub's HTTP interface with echo: health and
// metrics for operators, the JSON API, the live event stream, and the
// embedded dashboard.
//
// The API under /api/v1:
//
//	GET  /sites                                     sites with their edges and today's parcel counts
//	GET  /coldrooms                                 cold rooms with their latest reading
//	GET  /stream                                    server-sent events: site, coldroom, parcel
//	GET  /parcels/events?site=&waybill=&before=&limit=   stored parcel events, newest first
//	POST /sites/:site/edges/:edge/commands/:name?wait=10s  send a command (body: its arguments), wait for its result
//	GET  /commands/:id                              a recent command and its result
//
// and the others GET /api/v1/openapi.json describes: every route, with its
// parameters, bodies and answers.
//
// Every route has a rule (rules.go): public (the health check, the
// dashboard's files, logging in), or the roles that may call it and how
// its township is found, which a principal of one township must be
// theirs. The guard authenticates each request by its session cookie
// (with the CSRF token on unsafe methods) or its bearer token (hub/auth),
// refuses what the rule does not allow (401, 403, logged and counted),
// and hands the handler the principal, whose name the audit log records.
// A route without a rule fails a test and is refused at run time.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/dashboard"
	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/auth"
	"github.com/countylink/countylink/hub/command"
	"github.com/countylink/countylink/hub/ingest"
	"github.com/countylink/countylink/hub/live"
	"github.com/countylink/countylink/hub/metrics"
	"github.com/countylink/countylink/hub/state"
)

// EventSource answers queries for stored parcel events (sqlite.DB and
// postgres.DB do).
type EventSource interface {
	Events(ctx context.Context, q hub.EventQuery) ([]*hub.ParcelEvent, error)
}

// Limits of the API's parameters.
const (
	DefaultEventLimit = 50
	MaxEventLimit     = 500
	DefaultWait       = 10 * time.Second // how long a command waits for its result
	MaxWait           = 60 * time.Second
)

// Server is the hub's HTTP side.
type Server struct {
	State   *state.State
	Live    *live.Hub
	Metrics *metrics.Registry
	Log     *slog.Logger
	// Ready reports whether the hub can serve its purpose (subscribed to
	// the broker, store open); /healthz answers 503 until it does.
	Ready func() error
	// Heartbeat is how often an idle event stream sends a comment, so
	// proxies keep it open and the browser notices a dead hub.
	Heartbeat time.Duration
	// Events answers the parcel event queries; without it they get 503.
	Events EventSource
	// Commands sends commands to the edges; without it they get 503.
	Commands *command.Tracker
	// ColdChain serves the alarms and temperature logs; without it they get 503.
	ColdChain *ColdChain
	// Manifests imports courier manifests; without it they get 503.
	Manifests Manifests
	// Traffic lists what each edge sent (the ingest's counts); without it
	// /edges/traffic gets 503.
	Traffic func() []ingest.EdgeTraffic
	// SortPlans keeps the townships' sort plans; without it they get 503.
	SortPlans SortPlans
	// Logistics keeps parcels, lots, runs, figures and the audit log;
	// without it the logistics routes get 503.
	Logistics hub.LogisticsStore
	// Sites adds and edits sites; without it PUT /sites/:site gets 503.
	Sites SiteEditor
	// Location is the county's time zone, where the days of the figures
	// start and end; nil means the machine's (time.Local).
	Location *time.Location
	// Auth authenticates the requests and keeps the accounts; without it
	// every route but the public ones gets 503.
	Auth *auth.Service
	// HTTPS says the hub is reached over HTTPS (its public_url is https://,
	// a proxy terminating TLS in front): every answer then carries
	// Strict-Transport-Security, as does one served over TLS directly.
	HTTPS bool
}

// MaxBody is the largest request body of any route but the manifest
// import (manifest.DefaultMaxBytes).
const MaxBody = "1M"

// ContentSecurityPolicy is sent with every answer: the dashboard's pages
// load their scripts and styles from their own files only (no inline
// script, handler or style element), talk to the hub only, and are
// never framed.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// hstsValue keeps browsers on HTTPS for a year once they met the hub there.
const hstsValue = "max-age=31536000"

// securityHeaders sets the security headers on every answer, before the
// handler runs, so refusals and errors carry them too.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if s.HTTPS || c.Request().TLS != nil {
			h.Set("Strict-Transport-Security", hstsValue)
		}
		return next(c)
	}
}

// Handler builds the routes.
func (s *Server) Handler() http.Handler { return s.routes() }

// routes builds the router, so that a test can list its routes.
func (s *Server) routes() *echo.Echo {
	if s.Heartbeat == 0 {
		s.Heartbeat = 15 * time.Second
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.IPExtractor = s.ipExtractor()
	e.Use(middleware.Recover())
	e.Use(s.securityHeaders)
	// The route rules before anything reads a body: a request refused
	// (401, 403) is refused whatever it carries, with the headers above.
	registered := map[string]bool{} // filled once the routes are
	e.Use(s.guard(registered))
	// Every body is limited: 1 MiB here, the JSON routes less by their
	// own limits (decodeBodyMax: 4 KiB to log in, 64 KiB for logistics),
	// the manifest import more (manifest.DefaultMaxBytes, its own reader).
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{Limit: MaxBody,
		Skipper: func(c echo.Context) bool {
			return c.Request().Method == http.MethodPost && c.Path() == manifestImportPath
		}}))
	// The dashboard's assets and the API's JSON compress to a third; the
	// event stream is left alone (it is flushed event by event).
	e.Use(middleware.GzipWithConfig(middleware.GzipConfig{MinLength: 1024,
		Skipper: func(c echo.Context) bool { return c.Request().URL.Path == "/api/v1/stream" }}))

	e.GET("/healthz", s.healthz)
	e.GET("/metrics", s.metrics)
	api := e.Group("/api/v1")
	s.authRoutes(api)
	api.GET("/sites", s.sites)
	api.GET("/edges/traffic", s.edgeTraffic)
	api.GET("/coldrooms", s.coldRooms)
	api.GET("/stream", s.stream)
	api.GET("/parcels/events", s.parcelEvents)
	api.GET("/parcels/:waybill", s.parcel)
	api.POST("/sites/:site/edges/:edge/commands/:name", s.sendCommand)
	api.GET("/commands/:id", s.getCommand)
	s.coldChainRoutes(api)
	s.manifestRoutes(api)
	s.sortPlanRoutes(api)
	s.logisticsRoutes(api)
	api.GET("/openapi.json", serveOpenAPI)
	api.Any("/*", func(c echo.Context) error { return echo.ErrNotFound })
	e.GET("/*", s.dashboardFiles())
	for _, r := range e.Routes() {
		registered[r.Method+" "+r.Path] = true
	}
	return e
}

// dashboardFiles serves the dashboard's embedded files, and only them:
// a path that names none exactly (a "..", encoded or not, a backslash, an
// absolute or doubled path, a file that is not there) is refused with 404
// and logged, before anything opens a file.
func (s *Server) dashboardFiles() echo.HandlerFunc {
	files := echo.WrapHandler(dashboard.Handler())
	return func(c echo.Context) error {
		u := c.Request().URL
		if !dashboard.Has(u.Path) {
			// A file that is not there (a browser's /favicon.ico) is
			// everyday; a path reaching elsewhere is an attempt.
			reason, level := "no_such_file", slog.LevelDebug
			if raw := strings.ToLower(u.EscapedPath()); strings.Contains(u.Path, "..") || strings.ContainsAny(u.Path, "\\\x00:") ||
				strings.Contains(u.Path, "//") || strings.Contains(raw, "%2e") || strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c") {
				reason, level = "bad_path", slog.LevelWarn
			}
			s.Log.Log(c.Request().Context(), level, "request refused", "status", http.StatusNotFound, "reason", reason, "method", c.Request().Method,
				"path", clip(u.EscapedPath()), "ip", c.RealIP())
			return echo.ErrNotFound
		}
		return files(c)
	}
}

// codes are the statuses of the domain's errors. Their texts are shown:
// they name what the caller asked for, never an internal detail.
var codes = []struct {
	err  error
	code int
}{
	{command.ErrInvalid, http.StatusBadRequest},
	{hub.ErrNotConnected, http.StatusServiceUnavailable},
	{hub.ErrInvalidIn, http.StatusBadRequest},
	{hub.ErrNotFound, http.StatusNotFound},
	{hub.ErrConflict, http.StatusConflict},
}

// codeOf is the status of a domain error, 0 for any other error.
func codeOf(err error) int {
	for _, k := range codes {
		if errors.Is(err, k.err) {
			return k.code
		}
	}
	return 0
}

// errorHandler is the one place errors become statuses: users see a short
// message, never an internal detail.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, msg := http.StatusInternalServerError, "internal error"
	var he *echo.HTTPError
	switch k := codeOf(err); {
	case k != 0:
		code, msg = k, err.Error()
	case errors.As(err, &he):
		code, msg = he.Code, fmt.Sprint(he.Message)
		if code == http.StatusRequestEntityTooLarge {
			s.Log.Warn("request refused", "status", code, "reason", "too_large", "method", c.Request().Method,
				"path", c.Request().URL.Path, "ip", c.RealIP(), "content_length", c.Request().ContentLength)
		}
	default:
		s.Log.Error("request failed", "path", c.Path(), "err", err)
	}
	if c.Request().Method == http.MethodHead {
		c.NoContent(code)
		return
	}
	c.JSON(code, map[string]string{"error": msg})
}

// sites lists the sites: of a principal of one township, only that
// township and its village points.
func (s *Server) sites(c echo.Context) error {
	tw, all := ownTownship(c), s.State.Sites()
	out := all[:0:0]
	for _, v := range all {
		if s.inTownship(tw, v.ID) {
			out = append(out, v)
		}
	}
	return c.JSON(http.StatusOK, out)
}

// coldRooms lists the cold rooms: of a principal of one township, only
// that township's.
func (s *Server) coldRooms(c echo.Context) error {
	tw, all := ownTownship(c), s.State.ColdRooms()
	out := all[:0:0]
	for _, r := range all {
		if s.inTownship(tw, r.Site) {
			out = append(out, r)
		}
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) healthz(c echo.Context) error {
	if s.Ready != nil {
		if err := s.Ready(); err != nil {
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "starting", "error": err.Error()})
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) metrics(c echo.Context) error {
	var b bytes.Buffer
	s.Metrics.Write(&b)
	return c.Blob(http.StatusOK, "text/plain; version=0.0.4; charset=utf-8", b.Bytes())
}

// eventSite is the site a live event is about: the "site" member of its
// data, or the "id" of a site event.
func eventSite(ev live.Event) string {
	var v struct {
		Site string `json:"site"`
		ID   string `json:"id"`
	}
	json.Unmarshal(ev.Data, &v)
	if ev.Type == "site" {
		return v.ID
	}
	return v.Site
}

// stream sends live changes as server-sent events until the client leaves
// or is cut off for being slow (it then reconnects and re-reads the lists).
// A principal of one township gets only the events of its sites.
func (s *Server) stream(c echo.Context) error {
	w := c.Response()
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{}) // the server's write timeout does not apply to a stream
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	sub := s.Live.Subscribe(256)
	defer s.Live.Unsubscribe(sub)
	fmt.Fprintf(w, "retry: 2000\nevent: hello\ndata: {\"time\":%q}\n\n", time.Now().UTC().Format(time.RFC3339))
	w.Flush()
	tick := time.NewTicker(s.Heartbeat)
	defer tick.Stop()
	ctx := c.Request().Context()
	tw := ownTownship(c)
	shown := func(ev live.Event) bool { return tw == "" || s.inTownship(tw, eventSite(ev)) }
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.Done:
			return nil
		case ev := <-sub.C:
			if !shown(ev) {
				continue
			}
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, ev.Data); err != nil {
				return nil
			}
			// Send what else is waiting in the same write.
			for more := true; more; {
				select {
				case ev := <-sub.C:
					if shown(ev) {
						fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, ev.Data)
					}
				default:
					more = false
				}
			}
			w.Flush()
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return nil
			}
			w.Flush()
		}
	}
}

// badRequest is a 400 with a message for the caller.
func badRequest(format string, args ...any) error {
	return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf(format, args...))
}

// site checks a site id from the request: 400 when it is no valid id, 404
// when the sites file does not list it.
func (s *Server) site(id string) error {
	if !contract.ValidID(id) {
		return badRequest("site %q is not a valid id", clip(id))
	}
	if !s.State.KnownSite(id) {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("unknown site %s", id))
	}
	return nil
}

// siteQuery is the optional site query parameter, checked as site checks
// an id: "" when absent.
func (s *Server) siteQuery(c echo.Context) (string, error) {
	v := c.QueryParam("site")
	if v == "" {
		return "", nil
	}
	return v, s.site(v)
}

// limitQuery is the limit query parameter: def when absent, else a number
// from 1 to max.
func limitQuery(c echo.Context, def, max int) (int, error) {
	v := c.QueryParam("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, badRequest("limit %q must be a number from 1 to %d", clip(v), max)
	}
	return n, nil
}

// parcelEvents lists stored parcel events, newest first: of one site
// (site), of one waybill (waybill), before a time (before, RFC 3339, to
// page back), at most limit (default 50, at most 500).
func (s *Server) parcelEvents(c echo.Context) error {
	if s.Events == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "parcel events are not available")
	}
	var q hub.EventQuery
	var err error
	if q.Site, err = s.siteQuery(c); err != nil {
		return err
	}
	if v := c.QueryParam("waybill"); v != "" {
		if len(v) > contract.MaxWaybillLen {
			return badRequest("waybill is longer than %d characters", contract.MaxWaybillLen)
		}
		q.Waybill = v
	}
	if v := c.QueryParam("before"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return badRequest("before %q is not an RFC 3339 time such as 2026-11-29T08:00:00Z", clip(v))
		}
		q.Before = t
	}
	if q.Limit, err = limitQuery(c, DefaultEventLimit, MaxEventLimit); err != nil {
		return err
	}
	evs, err := s.Events.Events(c.Request().Context(), q)
	if err != nil {
		return fmt.Errorf("parcel events: %w", err)
	}
	// A principal of one township without a site sees its township's
	// events of the page: coarse, a page may hold fewer than limit.
	out := []*hub.ParcelEvent{}
	for _, e := range evs {
		if s.inTownship(ownTownship(c), e.Site) {
			out = append(out, e)
		}
	}
	return c.JSON(http.StatusOK, out)
}

// commandReply is a command as the API shows it, with what went wrong.
type commandReply struct {
	command.Command
	Error string `json:"error,omitempty"`
}

// sendCommand sends the command :name, with the request body (JSON, may
// be empty) as its arguments, to one edge, and waits for the result up to
// wait (default 10 s, at most 60 s). It answers the command with its
// result: 200 when the edge did it, 502 with the edge's error when it did
// not, 504 when no result came in time (the result is recorded when it
// comes: GET /api/v1/commands/:id).
func (s *Server) sendCommand(c echo.Context) error {
	if s.Commands == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "commands are not available")
	}
	site, edge, name := c.Param("site"), c.Param("edge"), c.Param("name")
	if err := s.site(site); err != nil {
		return err
	}
	if !contract.ValidID(edge) {
		return badRequest("edge %q is not a valid id", clip(edge))
	}
	if !contract.ValidID(name) {
		return badRequest("command %q is not a valid id", clip(name))
	}
	wait := DefaultWait
	if v := c.QueryParam("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > MaxWait {
			return badRequest("wait %q must be a duration from 1ms to %v, such as 10s", clip(v), MaxWait)
		}
		wait = d
	}
	args, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err // the body limit's 413, or the client went away
	}
	args = bytes.TrimSpace(args)
	// The server's write timeout is shorter than the longest wait.
	http.NewResponseController(c.Response()).SetWriteDeadline(time.Now().Add(wait + 10*time.Second))
	ctx := c.Request().Context()
	by, err := actor(c)
	if err != nil {
		return err
	}
	cmd, err := s.Commands.Do(ctx, site, edge, name, args, wait)
	if cmd.ID != "" {
		s.audit(ctx, by, AuditCommand, site, cmd.ID, map[string]any{"edge": edge, "name": name, "args": json.RawMessage(validJSON(args))})
	}
	switch {
	case errors.Is(err, command.ErrTimeout):
		why := fmt.Sprintf("no result from %s within %v", edge, wait)
		if err != command.ErrTimeout {
			why += " (" + strings.TrimPrefix(err.Error(), command.ErrTimeout.Error()+": ") + ")"
		}
		return c.JSON(http.StatusGatewayTimeout, commandReply{cmd,
			why + "; a result that comes later is recorded: GET /api/v1/commands/" + cmd.ID})
	case err != nil && ctx.Err() != nil:
		return nil // the caller left; the result is recorded if it comes
	case err != nil:
		return err
	case cmd.State != command.StateOK:
		why := cmd.Result.Error
		if why == "" {
			why = "no reason given"
		}
		return c.JSON(http.StatusBadGateway, commandReply{cmd, "the edge refused the command: " + why})
	}
	return c.JSON(http.StatusOK, commandReply{Command: cmd})
}

// getCommand shows a recent command and its result.
func (s *Server) getCommand(c echo.Context) error {
	if s.Commands == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "commands are not available")
	}
	cmd, ok := s.Commands.Get(c.Param("id"))
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, fmt.Sprintf("no recent command %q", clip(c.Param("id"))))
	}
	return c.JSON(http.StatusOK, commandReply{Command: cmd})
}

// validJSON is b when it is JSON, else null: what the audit entry can
// embed of a command's arguments.
func validJSON(b []byte) []byte {
	if len(b) == 0 || !json.Valid(b) {
		return []byte("null")
	}
	return b
}

func clip(s string) string {
	if len(s) > 70 {
		return s[:70] + "…"
	}
	return s
}

// edgeTraffic lists what each edge sent, the edges with most dropped and
// rejected messages first: GET /api/v1/edges/traffic?limit=.
func (s *Server) edgeTraffic(c echo.Context) error {
	if s.Traffic == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "edge traffic is not available")
	}
	limit, err := limitQuery(c, 100, 10000)
	if err != nil {
		return err
	}
	tw := ownTownship(c)
	t := []ingest.EdgeTraffic{}
	for _, e := range s.Traffic() {
		if s.inTownship(tw, e.Site) {
			t = append(t, e)
		}
	}
	return c.JSON(http.StatusOK, t[:min(limit, len(t))])
}
