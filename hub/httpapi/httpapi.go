// Package httpapi serves the hub's HTTP interface with echo: health and
// metrics for operators, the JSON API, the live event stream, and the
// embedded dashboard.
package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/countylink/countylink/dashboard"
	"github.com/countylink/countylink/hub/live"
	"github.com/countylink/countylink/hub/metrics"
	"github.com/countylink/countylink/hub/state"
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
}

// Handler builds the routes.
func (s *Server) Handler() http.Handler {
	if s.Heartbeat == 0 {
		s.Heartbeat = 15 * time.Second
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimit("1M"))
	e.Use(middleware.SecureWithConfig(middleware.SecureConfig{
		XSSProtection: "0", ContentTypeNosniff: "nosniff", XFrameOptions: "DENY",
		ContentSecurityPolicy: "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
		ReferrerPolicy:        "same-origin",
	}))

	e.GET("/healthz", s.healthz)
	e.GET("/metrics", s.metrics)
	api := e.Group("/api/v1")
	api.GET("/sites", func(c echo.Context) error { return c.JSON(http.StatusOK, s.State.Sites()) })
	api.GET("/coldrooms", func(c echo.Context) error { return c.JSON(http.StatusOK, s.State.ColdRooms()) })
	api.GET("/stream", s.stream)
	api.Any("/*", func(c echo.Context) error { return echo.ErrNotFound })
	e.GET("/*", echo.WrapHandler(dashboard.Handler()))
	return e
}

// errorHandler is the one place errors become statuses: users see a short
// message, never an internal detail.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, msg := http.StatusInternalServerError, "internal error"
	var he *echo.HTTPError
	if errors.As(err, &he) {
		code, msg = he.Code, fmt.Sprint(he.Message)
	} else {
		s.Log.Error("request failed", "path", c.Path(), "err", err)
	}
	if c.Request().Method == http.MethodHead {
		c.NoContent(code)
		return
	}
	c.JSON(code, map[string]string{"error": msg})
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

// stream sends live changes as server-sent events until the client leaves
// or is cut off for being slow (it then reconnects and re-reads the lists).
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
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.Done:
			return nil
		case ev := <-sub.C:
			if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, ev.Data); err != nil {
				return nil
			}
			// Send what else is waiting in the same write.
			for more := true; more; {
				select {
				case ev := <-sub.C:
					fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, ev.Data)
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
