package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/countylink/countylink/hub"
	"github.com/countylink/countylink/hub/alarm"
	"github.com/countylink/countylink/hub/coldlog"
)

// AlarmStore is the stored alarms and their audit trail.
type AlarmStore interface {
	Alarms(ctx context.Context, f hub.AlarmFilter) ([]hub.AlarmRow, error)
	AlarmHistory(ctx context.Context, id string) ([]hub.AlarmChange, error)
}

// ColdChain is what the cold-chain routes serve from: the alarm engine,
// the stored alarms, the temperature source and the sites file.
type ColdChain struct {
	Engine *alarm.Engine
	Store  AlarmStore
	Source coldlog.Source
	Sites  []hub.Site
	TZ     *time.Location
	// OnAck, when set, is told of each alarm acknowledged through the
	// API, as it is after the acknowledgement: the relay to the other
	// hub replicas.
	OnAck func(a alarm.Alarm)
}

// MaxLogPeriod is the longest period one temperature log export covers.
const MaxLogPeriod = 92 * 24 * time.Hour

func (s *Server) coldChainRoutes(api *echo.Group) {
	api.GET("/alarms", s.listAlarms)
	api.POST("/alarms/:id/ack", s.ackAlarm)
	api.GET("/alarms/:id/history", s.alarmHistory)
	api.GET("/coldrooms/:site/:room/log", s.temperatureLog)
}

func (s *Server) coldChain() (*ColdChain, error) {
	if s.ColdChain == nil || s.ColdChain.Engine == nil {
		return nil, echo.NewHTTPError(http.StatusServiceUnavailable, "cold-chain alarms are not available")
	}
	return s.ColdChain, nil
}

// listAlarms lists alarms: state=active (the default: active and
// acknowledged, from the engine, most severe and oldest first), or
// state=all|cleared from the store, newest first, with site and limit.
func (s *Server) listAlarms(c echo.Context) error {
	cc, err := s.coldChain()
	if err != nil {
		return err
	}
	site, err := s.siteQuery(c)
	if err != nil {
		return err
	}
	tw := ownTownship(c)
	switch st := c.QueryParam("state"); st {
	case "", "active":
		out := []alarm.Alarm{}
		for _, a := range cc.Engine.Active() {
			if (site == "" || a.Site == site) && s.inTownship(tw, a.Site) {
				out = append(out, a)
			}
		}
		return c.JSON(http.StatusOK, out)
	case "all", "cleared":
		limit, err := limitQuery(c, 100, 1000)
		if err != nil {
			return err
		}
		f := hub.AlarmFilter{Site: site, Limit: limit}
		if st == "cleared" {
			f.States = []string{string(alarm.StateCleared)}
		}
		rows, err := cc.Store.Alarms(c.Request().Context(), f)
		if err != nil {
			return err
		}
		// A principal of one township without a site sees its township's
		// alarms of the page: coarse, a page may hold fewer than limit.
		out := make([]json.RawMessage, 0, len(rows))
		for _, r := range rows {
			if s.inTownship(tw, r.Site) {
				out = append(out, r.Record)
			}
		}
		return c.JSON(http.StatusOK, out)
	default:
		return badRequest("state %q must be active, cleared or all", clip(st))
	}
}

// ackAlarm acknowledges an alarm: {"comment": "门已关好, 观察中"}. Who
// acknowledges is the signed-in principal; a "by" member is accepted for
// older pages and ignored.
func (s *Server) ackAlarm(c echo.Context) error {
	cc, err := s.coldChain()
	if err != nil {
		return err
	}
	by, err := actor(c)
	if err != nil {
		return err
	}
	var req struct {
		By      string `json:"by"`
		Comment string `json:"comment"`
	}
	if err := decodeBodyMax(c, &req, `{"comment": "<why>"}`, true, 4<<10); err != nil {
		return err
	}
	id := c.Param("id")
	err = cc.Engine.Ack(id, by, strings.TrimSpace(req.Comment), time.Now())
	switch {
	case errors.Is(err, alarm.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, "no active alarm "+clip(id))
	case errors.Is(err, alarm.ErrAcknowledged):
		return echo.NewHTTPError(http.StatusConflict, err.Error())
	case errors.Is(err, alarm.ErrInvalid):
		return badRequest("%v", err)
	case err != nil:
		return err
	}
	a, _ := cc.Engine.Get(id)
	s.audit(c.Request().Context(), by, AuditAlarmAck, a.Site, id, map[string]any{"kind": a.Kind, "room": a.Room, "comment": strings.TrimSpace(req.Comment)})
	if cc.OnAck != nil && a.Acked != nil {
		cc.OnAck(a)
	}
	return c.JSON(http.StatusOK, a)
}

// alarmHistory is an alarm's audit trail, oldest first.
func (s *Server) alarmHistory(c echo.Context) error {
	cc, err := s.coldChain()
	if err != nil {
		return err
	}
	hs, err := cc.Store.AlarmHistory(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	if len(hs) == 0 {
		return echo.NewHTTPError(http.StatusNotFound, "no alarm "+clip(c.Param("id")))
	}
	type entry struct {
		At    time.Time       `json:"at"`
		Event string          `json:"event"`
		By    string          `json:"by,omitempty"`
		Alarm json.RawMessage `json:"alarm"`
	}
	out := make([]entry, len(hs))
	for i, h := range hs {
		out[i] = entry{At: h.At, Event: h.Event, By: h.By, Alarm: h.Alarm.Record}
	}
	return c.JSON(http.StatusOK, out)
}

// temperatureLog exports a room's temperature log for a period:
// from and to (RFC 3339 or a date, 2026-11-01, in the county's time zone;
// default the last 24 hours), format csv, html (printable) or json.
func (s *Server) temperatureLog(c echo.Context) error {
	cc, err := s.coldChain()
	if err != nil {
		return err
	}
	if cc.Source == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "the temperature log is not available")
	}
	siteID, roomID := c.Param("site"), c.Param("room")
	if err := s.site(siteID); err != nil {
		return err
	}
	var site hub.Site
	var room hub.Room
	found := false
	for _, st := range cc.Sites {
		if st.ID != siteID {
			continue
		}
		site = st
		for _, r := range st.Rooms {
			if r.ID == roomID {
				room, found = r, true
			}
		}
	}
	if !found {
		return echo.NewHTTPError(http.StatusNotFound, "no cold room "+clip(roomID)+" at "+siteID)
	}
	tz := cc.TZ
	if tz == nil {
		tz = time.Local
	}
	now := time.Now().In(tz)
	to, err := parseTime(c.QueryParam("to"), tz, now)
	if err != nil {
		return badRequest("to: %v", err)
	}
	from, err := parseTime(c.QueryParam("from"), tz, to.Add(-24*time.Hour))
	if err != nil {
		return badRequest("from: %v", err)
	}
	if !from.Before(to) || to.Sub(from) > MaxLogPeriod {
		return badRequest("the period must run forward and cover at most %d days", int(MaxLogPeriod.Hours()/24))
	}
	meta, p := coldlog.ForRoom(site, room, from, to)
	meta.TZ = tz
	l, err := coldlog.Build(c.Request().Context(), cc.Source, meta, p)
	if err != nil {
		return err
	}
	name := siteID + "-" + roomID + "-" + from.Format("20060102") + "-" + to.Format("20060102")
	switch f := c.QueryParam("format"); f {
	case "", "html":
		c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
		return coldlog.WriteHTML(c.Response(), l)
	case "csv":
		c.Response().Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
		c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`.csv"`)
		return coldlog.WriteCSV(c.Response(), l)
	case "json":
		return c.JSON(http.StatusOK, l)
	default:
		return badRequest("format %q must be html, csv or json", clip(f))
	}
}

// parseTime reads RFC 3339 or a date (midnight in tz); empty gives def.
func parseTime(v string, tz *time.Location, def time.Time) (time.Time, error) {
	if v == "" {
		return def, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", v, tz); err == nil {
		return t, nil
	}
	return time.Time{}, errors.New("want RFC 3339 (2026-11-29T08:00:00+08:00) or a date (2026-11-29)")
}
