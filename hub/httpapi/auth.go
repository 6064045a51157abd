package httpapi

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/auth"
)

// Audit actions of the accounts.
const (
	AuditLogin         = "auth.login"
	AuditLoginFailed   = "auth.login_failed"
	AuditKiosk         = "auth.kiosk"
	AuditLogout        = "auth.logout"
	AuditPassword      = "auth.password"
	AuditUserCreate    = "user.create"
	AuditUserUpdate    = "user.update"
	AuditTokenIssue    = "token.issue"
	AuditTokenRevoke   = "token.revoke"
	AuditAlarmAck      = "alarm.ack"
	AuditManifest      = "manifest.import"
	AuditCommand       = "command.send"
	AuditScan          = "scan.record"
	maxLoginBodyBytes  = 4 << 10
	maxAccountBodySize = 8 << 10
)

func (s *Server) authRoutes(api *echo.Group) {
	api.POST("/auth/login", s.login)
	api.POST("/auth/kiosk", s.kioskLogin)
	api.POST("/auth/logout", s.logout)
	api.GET("/auth/me", s.me)
	api.PUT("/auth/password", s.changePassword)
	api.GET("/users", s.listUsers)
	api.POST("/users", s.createUser)
	api.PATCH("/users/:name", s.updateUser)
	api.GET("/tokens", s.listTokens)
	api.POST("/tokens", s.issueToken)
	api.DELETE("/tokens/:id", s.revokeToken)
}

// ipExtractor finds the client's address: the connection's peer, or the
// X-Forwarded-For of the trusted proxies (auth.trusted_proxies) only.
func (s *Server) ipExtractor() echo.IPExtractor {
	if s.Auth == nil {
		return echo.ExtractIPDirect()
	}
	proxies, _ := s.Auth.Config.Proxies()
	if len(proxies) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range proxies {
		_, n, err := net.ParseCIDR(p.String())
		if err == nil {
			opts = append(opts, echo.TrustIPRange(n))
		}
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// me is what the pages show and decide by: who is signed in.
type me struct {
	Name        string    `json:"name"`
	DisplayName string    `json:"display_name"`
	Role        hub.Role  `json:"role"`
	Township    string    `json:"township"`
	Via         string    `json:"via"` // session, kiosk or token
	Expires     time.Time `json:"expires,omitzero"`
	CSRF        string    `json:"csrf,omitempty"` // the X-CSRF-Token of a session's unsafe requests
}

func meOf(p *auth.Principal) me {
	return me{Name: p.Name, DisplayName: p.DisplayName, Role: p.Role, Township: p.Township, Via: p.Via, Expires: p.Expires, CSRF: p.CSRF()}
}

// loginErr answers a failed login or kiosk exchange: 429 with
// Retry-After over a rate limit, 403 for a disabled account, else 401.
func (s *Server) loginErr(c echo.Context, err error) error {
	var te *auth.ThrottledError
	switch {
	case errors.As(err, &te):
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(te.RetryAfter.Seconds())+1))
		return echo.NewHTTPError(http.StatusTooManyRequests, err.Error())
	case errors.Is(err, auth.ErrDisabled):
		return echo.NewHTTPError(http.StatusForbidden, err.Error())
	case errors.Is(err, auth.ErrBadCredentials), errors.Is(err, auth.ErrBadToken):
		return echo.NewHTTPError(http.StatusUnauthorized, err.Error())
	}
	return err
}

// jsonOnly refuses a login that is not JSON: a form another site's page
// posts (a login CSRF) cannot send application/json without the
// browser's preflight, which the hub does not answer.
func jsonOnly(c echo.Context) error {
	if ct := c.Request().Header.Get(echo.HeaderContentType); !strings.HasPrefix(ct, echo.MIMEApplicationJSON) {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "the body must be JSON (Content-Type: application/json)")
	}
	return nil
}

// login checks a name and password and starts a session: POST
// /auth/login {"name": "王芳", "password": "…"}. The answer sets the
// session and CSRF cookies and says who is signed in, with the CSRF
// token.
func (s *Server) login(c echo.Context) error {
	if s.Auth == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "accounts are not available")
	}
	if err := jsonOnly(c); err != nil {
		return err
	}
	var req struct {
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if err := decodeBodyMax(c, &req, `{"name": "王芳", "password": "…"}`, false, maxLoginBodyBytes); err != nil {
		return err
	}
	req.Name = strings.TrimSpace(req.Name)
	if !auth.ValidName(req.Name) || req.Password == "" {
		return badRequest("name and password must be given")
	}
	ctx := c.Request().Context()
	ip := c.RealIP()
	p, id, err := s.Auth.Login(ctx, req.Name, req.Password, ip)
	if err != nil {
		var te *auth.ThrottledError
		if !errors.As(err, &te) && (errors.Is(err, auth.ErrBadCredentials) || errors.Is(err, auth.ErrDisabled)) {
			s.audit(ctx, "-", AuditLoginFailed, "", req.Name, map[string]any{"ip": ip, "why": err.Error()})
		}
		return s.loginErr(c, err)
	}
	s.Auth.SetCookies(c.Response(), c.Request(), id, p.Expires)
	s.audit(ctx, p.Name, AuditLogin, p.Township, p.Name, map[string]any{"ip": ip, "role": p.Role})
	return c.JSON(http.StatusOK, meOf(p))
}

// kioskLogin exchanges a wall screen's kiosk token for its read-only
// session: POST /auth/kiosk {"token": "clk_…"}.
func (s *Server) kioskLogin(c echo.Context) error {
	if s.Auth == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "accounts are not available")
	}
	if err := jsonOnly(c); err != nil {
		return err
	}
	var req struct {
		Token string `json:"token"`
	}
	if err := decodeBodyMax(c, &req, `{"token": "clk_…"}`, false, maxLoginBodyBytes); err != nil {
		return err
	}
	ctx := c.Request().Context()
	ip := c.RealIP()
	p, id, err := s.Auth.KioskLogin(ctx, strings.TrimSpace(req.Token), ip)
	if err != nil {
		if errors.Is(err, auth.ErrBadToken) {
			s.audit(ctx, "-", AuditLoginFailed, "", "kiosk", map[string]any{"ip": ip, "why": err.Error()})
		}
		return s.loginErr(c, err)
	}
	s.Auth.SetCookies(c.Response(), c.Request(), id, p.Expires)
	s.audit(ctx, p.Name, AuditKiosk, p.Township, p.TokenID, map[string]any{"ip": ip})
	return c.JSON(http.StatusOK, meOf(p))
}

// logout ends the session and clears its cookies.
func (s *Server) logout(c echo.Context) error {
	p := principal(c)
	if err := s.Auth.Logout(c.Request().Context(), p); err != nil {
		return err
	}
	s.Auth.ClearCookies(c.Response(), c.Request())
	s.audit(c.Request().Context(), p.Name, AuditLogout, p.Township, p.Name, map[string]any{"ip": c.RealIP()})
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) me(c echo.Context) error { return c.JSON(http.StatusOK, meOf(principal(c))) }

// changePassword sets the signed-in person's password: PUT
// /auth/password {"current": "…", "new": "…"}. Their other sessions end;
// this one goes on with new cookies.
func (s *Server) changePassword(c echo.Context) error {
	p := principal(c)
	if p.Via != auth.ViaSession {
		return echo.NewHTTPError(http.StatusForbidden, "only a person signed in with a password changes it")
	}
	var req struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if err := decodeBodyMax(c, &req, `{"current": "…", "new": "…"}`, false, maxLoginBodyBytes); err != nil {
		return err
	}
	ctx := c.Request().Context()
	u, err := s.Auth.Store.User(ctx, p.User)
	if err != nil {
		return err
	}
	if ok, _ := auth.VerifyPassword(u.PasswordHash, req.Current); !ok {
		return echo.NewHTTPError(http.StatusForbidden, "the current password is wrong")
	}
	if _, err := s.Auth.UpdateUser(ctx, p.User, auth.UserChange{Password: &req.New}, p.Name); err != nil {
		return err
	}
	np, id, err := s.Auth.StartSession(ctx, p.User)
	if err != nil {
		return err
	}
	s.Auth.SetCookies(c.Response(), c.Request(), id, np.Expires)
	s.audit(ctx, p.Name, AuditPassword, p.Township, p.Name, map[string]any{"ip": c.RealIP()})
	return c.JSON(http.StatusOK, meOf(np))
}

// checkTownshipID checks a township given to an account or a token: ""
// or a township of the sites.
func (s *Server) checkTownshipID(tw string) error {
	if tw == "" {
		return nil
	}
	return s.township(tw)
}

func (s *Server) listUsers(c echo.Context) error {
	us, err := s.Auth.Store.Users(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, us)
}

// createUser makes an account: POST /users {"name", "display_name",
// "role", "township", "password"}.
func (s *Server) createUser(c echo.Context) error {
	var req struct {
		Name        string   `json:"name"`
		DisplayName string   `json:"display_name"`
		Role        hub.Role `json:"role"`
		Township    string   `json:"township"`
		Password    string   `json:"password"`
	}
	if err := decodeBodyMax(c, &req, `{"name": "wangfang", "display_name": "王芳", "role": "township_coordinator", "township": "tw01", "password": "…"}`, false, maxAccountBodySize); err != nil {
		return err
	}
	if err := s.checkTownshipID(req.Township); err != nil {
		return err
	}
	p := principal(c)
	u, err := s.Auth.CreateUser(c.Request().Context(), hub.User{Name: strings.TrimSpace(req.Name), DisplayName: strings.TrimSpace(req.DisplayName),
		Role: req.Role, Township: req.Township}, req.Password, p.Name)
	if err != nil {
		return accountErr(err)
	}
	s.audit(c.Request().Context(), p.Name, AuditUserCreate, u.Township, u.Name, map[string]any{"role": u.Role, "township": u.Township})
	return c.JSON(http.StatusCreated, u)
}

// updateUser changes an account: PATCH /users/:name with any of
// display_name, role, township, disabled, password.
func (s *Server) updateUser(c echo.Context) error {
	var ch auth.UserChange
	if err := decodeBodyMax(c, &ch, `{"role": "county_coordinator", "township": "", "disabled": false, "display_name": "王芳", "password": "…"}`, false, maxAccountBodySize); err != nil {
		return err
	}
	if ch.Township != nil {
		if err := s.checkTownshipID(*ch.Township); err != nil {
			return err
		}
	}
	p := principal(c)
	name := c.Param("name")
	if name == p.User && ((ch.Disabled != nil && *ch.Disabled) || (ch.Role != nil && *ch.Role != hub.RoleAdmin)) {
		return echo.NewHTTPError(http.StatusConflict, "an admin does not disable or demote their own account: another admin does")
	}
	u, err := s.Auth.UpdateUser(c.Request().Context(), name, ch, p.Name)
	if err != nil {
		return accountErr(err)
	}
	detail := map[string]any{"role": u.Role, "township": u.Township, "disabled": u.Disabled, "password_set": ch.Password != nil}
	s.audit(c.Request().Context(), p.Name, AuditUserUpdate, u.Township, u.Name, detail)
	return c.JSON(http.StatusOK, u)
}

// accountErr gives the caller's status of an account or token error.
func accountErr(err error) error {
	if errors.Is(err, auth.ErrInvalid) {
		return badRequest("%v", err)
	}
	return err
}

func (s *Server) listTokens(c echo.Context) error {
	ts, err := s.Auth.Store.Tokens(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, ts)
}

// issueToken makes an API token or a wall screen's kiosk token: POST
// /tokens {"kind": "api"|"kiosk", "name", "role", "township", "expires"}.
// The answer carries the secret, shown this once; for a kiosk token also
// the wall screen's path to open with it.
func (s *Server) issueToken(c echo.Context) error {
	var req struct {
		Kind     string    `json:"kind"`
		Name     string    `json:"name"`
		Role     hub.Role  `json:"role"`
		Township string    `json:"township"`
		Expires  time.Time `json:"expires"`
	}
	if err := decodeBodyMax(c, &req, `{"kind": "api", "name": "sf-manifests", "role": "township_coordinator", "township": "tw01"} or {"kind": "kiosk", "name": "hall-tv"}`, false, maxAccountBodySize); err != nil {
		return err
	}
	if req.Kind == hub.TokenKiosk && req.Role == "" {
		req.Role = hub.RoleViewer
	}
	if err := s.checkTownshipID(req.Township); err != nil {
		return err
	}
	p := principal(c)
	secret, t, err := s.Auth.IssueToken(c.Request().Context(), req.Kind, strings.TrimSpace(req.Name), req.Role, req.Township, req.Expires, p.Name)
	if err != nil {
		return accountErr(err)
	}
	s.audit(c.Request().Context(), p.Name, AuditTokenIssue, t.Township, t.ID, map[string]any{"kind": t.Kind, "name": t.Name, "role": t.Role})
	out := map[string]any{"token": t, "secret": secret}
	if t.Kind == hub.TokenKiosk {
		out["path"] = KioskPath(secret)
	}
	return c.JSON(http.StatusCreated, out)
}

// KioskPath is the wall screen's path that signs in with a kiosk token:
// the token goes in the fragment, which the browser never sends.
func KioskPath(secret string) string { return "/?kiosk=1#kiosk=" + secret }

func (s *Server) revokeToken(c echo.Context) error {
	p := principal(c)
	t, err := s.Auth.RevokeToken(c.Request().Context(), c.Param("id"), p.Name)
	if err != nil {
		return err
	}
	s.audit(c.Request().Context(), p.Name, AuditTokenRevoke, t.Township, t.ID, map[string]any{"kind": t.Kind, "name": t.Name})
	return c.JSON(http.StatusOK, t)
}
