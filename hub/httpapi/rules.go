package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/auth"
)

// scope says how a route finds the township its data belongs to, which a
// principal of one township (station staff, a township coordinator, a
// township's own wall screen) must be theirs. A principal of the whole
// county passes every scope.
type scope uint8

const (
	// scopeNone: the route carries no township's data (the principal's
	// own account, the API's description).
	scopeNone scope = iota
	// scopeCounty: county-wide data or actions (commands to the edges,
	// editing the sites, the accounts): refused to a principal of one
	// township.
	scopeCounty
	// scopePath: the township of the path's :site.
	scopePath
	// scopeQuery: the township of the query's site or township parameter
	// when given; without it the handler answers only the principal's
	// township (see scopeFiltered).
	scopeQuery
	// scopeQueryRequired: the township of the query's site parameter,
	// which a principal of one township must give (a write).
	scopeQueryRequired
	// scopeRun: the township of the run the path's :id names.
	scopeRun
	// scopeAlarm: the site of the alarm the path's :id names.
	scopeAlarm
	// scopeItem: the parcel or lot the path's :waybill or :id names: its
	// township, the township where it was last scanned, its manifest's or
	// any of its scans' (a parcel sent to the wrong township is the
	// business of both).
	scopeItem
	// scopeManifestParcel: the township of the announced parcel the
	// path's :waybill names.
	scopeManifestParcel
	// scopeFiltered: a list the handler filters down to the principal's
	// township.
	scopeFiltered
)

var scopeNames = map[scope]string{scopeNone: "none", scopeCounty: "county", scopePath: "path :site", scopeQuery: "query site/township, else filtered",
	scopeQueryRequired: "query site (required)", scopeRun: "run :id", scopeAlarm: "alarm :id", scopeItem: "item :waybill/:id",
	scopeManifestParcel: "announced parcel :waybill", scopeFiltered: "filtered"}

func (s scope) String() string { return scopeNames[s] }

// rule is who may call a route.
type rule struct {
	public bool       // anyone, signed in or not
	roles  []hub.Role // else: the roles allowed
	scope  scope
}

// Role sets of the rules.
var (
	everyone     = []hub.Role{hub.RoleViewer, hub.RoleStaff, hub.RoleTownship, hub.RoleCounty, hub.RoleAdmin}
	staffUp      = []hub.Role{hub.RoleStaff, hub.RoleTownship, hub.RoleCounty, hub.RoleAdmin}
	coordinators = []hub.Role{hub.RoleTownship, hub.RoleCounty, hub.RoleAdmin}
	countyRoles  = []hub.Role{hub.RoleCounty, hub.RoleAdmin}
	admins       = []hub.Role{hub.RoleAdmin}
)

// rules is the route-rule table: a rule for every route the router has,
// by method and echo path. TestRouteRulesComplete fails when a route has
// none, and the guard refuses a route without one (500, logged), so
// nothing is open by omission. TestRouteRules checks each rule for each
// role.
//
// The viewer (a wall screen) reads what the wall screen shows; station
// staff also read parcels and runs and record scans and loads; township
// coordinators also open, send off and close runs, keep their sort plan,
// import manifests and acknowledge alarms; county coordinators do all of
// that for every township, send commands to the edges and edit the
// sites; admins also keep the accounts and tokens.
var rules = map[string]rule{
	"GET /healthz":                                        {public: true},
	"GET /api/v1/openapi.json":                            {public: true},
	"POST /api/v1/auth/login":                             {public: true},
	"POST /api/v1/auth/kiosk":                             {public: true},
	"GET /*":                                              {public: true}, // the dashboard's pages and assets: they hold no data
	"ANY /api/v1/*":                                       {public: true}, // 404 for any other API path
	"GET /metrics":                                        {roles: everyone, scope: scopeCounty},
	"GET /api/v1/auth/me":                                 {roles: everyone},
	"POST /api/v1/auth/logout":                            {roles: everyone},
	"PUT /api/v1/auth/password":                           {roles: everyone},
	"GET /api/v1/users":                                   {roles: admins, scope: scopeCounty},
	"POST /api/v1/users":                                  {roles: admins, scope: scopeCounty},
	"PATCH /api/v1/users/:name":                           {roles: admins, scope: scopeCounty},
	"GET /api/v1/tokens":                                  {roles: admins, scope: scopeCounty},
	"POST /api/v1/tokens":                                 {roles: admins, scope: scopeCounty},
	"DELETE /api/v1/tokens/:id":                           {roles: admins, scope: scopeCounty},
	"GET /api/v1/sites":                                   {roles: everyone, scope: scopeFiltered},
	"PUT /api/v1/sites/:site":                             {roles: countyRoles, scope: scopeCounty},
	"GET /api/v1/coldrooms":                               {roles: everyone, scope: scopeFiltered},
	"GET /api/v1/stream":                                  {roles: everyone, scope: scopeFiltered},
	"GET /api/v1/alarms":                                  {roles: everyone, scope: scopeQuery},
	"POST /api/v1/alarms/:id/ack":                         {roles: coordinators, scope: scopeAlarm},
	"GET /api/v1/alarms/:id/history":                      {roles: staffUp, scope: scopeAlarm},
	"GET /api/v1/coldrooms/:site/:room/log":               {roles: everyone, scope: scopePath},
	"GET /api/v1/figures":                                 {roles: everyone, scope: scopeQuery},
	"GET /api/v1/produce":                                 {roles: everyone, scope: scopeQuery},
	"GET /api/v1/board":                                   {roles: everyone, scope: scopeFiltered},
	"GET /api/v1/sites/:site/board":                       {roles: everyone, scope: scopePath},
	"GET /api/v1/edges/traffic":                           {roles: coordinators, scope: scopeFiltered},
	"GET /api/v1/parcels/events":                          {roles: staffUp, scope: scopeQuery},
	"GET /api/v1/parcels/:waybill":                        {roles: staffUp, scope: scopeItem},
	"GET /api/v1/items":                                   {roles: staffUp, scope: scopeQuery},
	"GET /api/v1/items/:id":                               {roles: staffUp, scope: scopeItem},
	"POST /api/v1/sites/:site/edges/:edge/commands/:name": {roles: countyRoles, scope: scopeCounty},
	"GET /api/v1/commands/:id":                            {roles: countyRoles, scope: scopeCounty},
	"POST /api/v1/manifests":                              {roles: coordinators, scope: scopeQueryRequired},
	"GET /api/v1/manifests":                               {roles: staffUp, scope: scopeQuery},
	"GET /api/v1/manifests/parcels/:waybill":              {roles: staffUp, scope: scopeManifestParcel},
	"GET /api/v1/sites/:site/sortplan":                    {roles: staffUp, scope: scopePath},
	"PUT /api/v1/sites/:site/sortplan":                    {roles: coordinators, scope: scopePath},
	"POST /api/v1/sites/:site/runs":                       {roles: coordinators, scope: scopePath},
	"GET /api/v1/sites/:site/runs":                        {roles: staffUp, scope: scopePath},
	"GET /api/v1/runs":                                    {roles: staffUp, scope: scopeQuery},
	"GET /api/v1/runs/:id":                                {roles: staffUp, scope: scopeRun},
	"POST /api/v1/runs/:id/load":                          {roles: staffUp, scope: scopeRun},
	"POST /api/v1/runs/:id/unload":                        {roles: staffUp, scope: scopeRun},
	"POST /api/v1/runs/:id/depart":                        {roles: coordinators, scope: scopeRun},
	"POST /api/v1/runs/:id/close":                         {roles: coordinators, scope: scopeRun},
	"POST /api/v1/sites/:site/scans":                      {roles: staffUp, scope: scopePath},
	"GET /api/v1/audit":                                   {roles: coordinators, scope: scopeQuery},
}

// ruleOf is the rule of a route, by its method and echo path.
func ruleOf(method, path string) (rule, bool) {
	if r, ok := rules[method+" "+path]; ok {
		return r, true
	}
	r, ok := rules["ANY "+path]
	return r, ok
}

// unsafe reports whether a method changes something (and so needs the
// CSRF token with a cookie).
func unsafe(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

const principalKey = "countylink.principal"

// principal is who the request acts as; nil on a public route.
func principal(c echo.Context) *auth.Principal {
	p, _ := c.Get(principalKey).(*auth.Principal)
	return p
}

// ownTownship is the township a request is confined to: the principal's,
// "" for the whole county.
func ownTownship(c echo.Context) string {
	if p := principal(c); p != nil {
		return p.Township
	}
	return ""
}

// refusal is a request refused by the guard: its status, the reason it
// is counted under and the message for the caller.
func (s *Server) refuse(c echo.Context, code int, reason, msg string, p *auth.Principal) error {
	if s.Auth != nil {
		s.Auth.Refused(reason)
	}
	who := ""
	if p != nil {
		who = p.Name
	}
	s.Log.Warn("request refused", "status", code, "reason", reason, "method", c.Request().Method, "path", c.Request().URL.Path,
		"route", c.Path(), "ip", c.RealIP(), "principal", who)
	if code == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="countylink"`)
	}
	return echo.NewHTTPError(code, msg)
}

// guard enforces the route rules: it authenticates the request, checks
// the CSRF token of an unsafe request made with a cookie, the role and
// the township, and hands the principal to the handler.
func (s *Server) guard(registered map[string]bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			key := req.Method + " " + c.Path()
			r, ok := ruleOf(req.Method, c.Path())
			if !ok {
				if !registered[key] {
					return next(c) // no route: echo's 404 or 405
				}
				s.Log.Error("route without a rule refused", "route", key)
				return echo.NewHTTPError(http.StatusInternalServerError, "this route has no access rule")
			}
			if r.public {
				return next(c)
			}
			if s.Auth == nil {
				return echo.NewHTTPError(http.StatusServiceUnavailable, "accounts are not available")
			}
			p, err := s.Auth.Authenticate(req.Context(), req)
			switch {
			case errors.Is(err, auth.ErrNoCredentials):
				return s.refuse(c, http.StatusUnauthorized, "no_credentials", err.Error(), nil)
			case errors.Is(err, auth.ErrBadToken):
				return s.refuse(c, http.StatusUnauthorized, "bad_token", err.Error(), nil)
			case errors.Is(err, auth.ErrSessionEnded):
				s.Auth.ClearCookies(c.Response(), req)
				return s.refuse(c, http.StatusUnauthorized, "session_ended", err.Error(), nil)
			case err != nil:
				return err
			}
			if unsafe(req.Method) {
				if err := s.Auth.CheckCSRF(req, p); err != nil {
					return s.refuse(c, http.StatusForbidden, "csrf", err.Error(), p)
				}
			}
			if !slices.Contains(r.roles, p.Role) {
				return s.refuse(c, http.StatusForbidden, "forbidden", "a "+string(p.Role)+" may not do this", p)
			}
			c.Set(principalKey, p)
			if p.Township != "" {
				if err := s.checkTownship(c, r.scope, p); err != nil {
					return err
				}
			}
			return next(c)
		}
	}
}

// checkTownship checks that what a request of a principal of one
// township touches is of that township: 403 when not.
func (s *Server) checkTownship(c echo.Context, sc scope, p *auth.Principal) error {
	other := func(what string) error {
		return s.refuse(c, http.StatusForbidden, "other_township", what+" is not of township "+p.Township, p)
	}
	own := func(site string) bool { return s.State != nil && s.State.Township(site) == p.Township }
	ctx := c.Request().Context()
	switch sc {
	case scopeNone, scopeFiltered:
		return nil
	case scopeCounty:
		return s.refuse(c, http.StatusForbidden, "other_township", "this is the county's, not township "+p.Township+"'s", p)
	case scopePath:
		if site := c.Param("site"); !own(site) {
			return other("site " + clip(site))
		}
	case scopeQuery, scopeQueryRequired:
		site, tw := c.QueryParam("site"), c.QueryParam("township")
		if sc == scopeQueryRequired && site == "" {
			return s.refuse(c, http.StatusForbidden, "other_township", "give site="+p.Township+": a "+string(p.Role)+" acts for township "+p.Township, p)
		}
		if site != "" && !own(site) {
			return other("site " + clip(site))
		}
		if tw != "" && tw != p.Township {
			return other("township " + clip(tw))
		}
	case scopeRun:
		if s.Logistics == nil {
			return nil
		}
		run, err := s.Logistics.Run(ctx, c.Param("id"))
		if err == nil && run != nil && !own(run.Site) {
			return other("run " + run.ID)
		}
	case scopeAlarm:
		if site, ok := s.alarmSite(ctx, c.Param("id")); ok && !own(site) {
			return other("alarm " + clip(c.Param("id")))
		}
	case scopeItem:
		id := c.Param("waybill") + c.Param("id")
		if sites, ok := s.itemSites(ctx, id); ok && !slices.ContainsFunc(sites, own) {
			return other("parcel or lot " + clip(id))
		}
	case scopeManifestParcel:
		if s.Manifests == nil {
			return nil
		}
		mp, err := s.Manifests.Parcel(ctx, strings.ToUpper(strings.TrimSpace(c.Param("waybill"))))
		if err == nil && mp != nil && !own(mp.Site) {
			return other("parcel " + clip(mp.Waybill))
		}
	}
	return nil
}

// alarmSite is the site of an alarm, active or stored; false when none
// is known (the handler then answers 404).
func (s *Server) alarmSite(ctx context.Context, id string) (string, bool) {
	if s.ColdChain == nil {
		return "", false
	}
	if s.ColdChain.Engine != nil {
		if a, ok := s.ColdChain.Engine.Get(id); ok {
			return a.Site, true
		}
	}
	if s.ColdChain.Store == nil {
		return "", false
	}
	hs, err := s.ColdChain.Store.AlarmHistory(ctx, id)
	if err != nil || len(hs) == 0 {
		return "", false
	}
	var rec struct {
		Site string `json:"site"`
	}
	if json.Unmarshal(hs[0].Alarm.Record, &rec) != nil {
		return "", false
	}
	return rec.Site, true
}

// itemSites are the sites a parcel or lot belongs to: its derived
// township and last site, its manifest's township, the sites of its
// scans; false when nothing knows it (the handler then answers 404).
func (s *Server) itemSites(ctx context.Context, id string) ([]string, bool) {
	wb, err := normWaybill(id)
	if err != nil {
		return nil, false
	}
	var sites []string
	if s.Logistics != nil {
		if it, err := s.Logistics.Item(ctx, wb); err == nil && it != nil {
			sites = append(sites, it.Township, it.Site)
		}
	}
	if s.Manifests != nil {
		if mp, err := s.Manifests.Parcel(ctx, wb); err == nil && mp != nil {
			sites = append(sites, mp.Site)
		}
	}
	var events EventSource = s.Events
	if s.Logistics != nil {
		events = s.Logistics
	}
	if events != nil {
		if evs, err := events.Events(ctx, hub.EventQuery{Waybill: wb, Limit: MaxEventLimit}); err == nil {
			for _, e := range evs {
				sites = append(sites, e.Site)
			}
		}
	}
	return sites, len(sites) > 0
}

// inTownship reports whether site is of township tw ("" for the whole
// county: every site is).
func (s *Server) inTownship(tw, site string) bool {
	return tw == "" || s.State.Township(site) == tw
}
