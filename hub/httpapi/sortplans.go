package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/countylink/countylink/contract"
	"github.com/countylink/countylink/hub"
)

// SortPlans keeps the townships' sort plans.
type SortPlans interface {
	Get(site string) json.RawMessage
	Put(ctx context.Context, site string, raw []byte) (version string, sentTo []string, err error)
}

func (s *Server) sortPlanRoutes(api *echo.Group) {
	api.GET("/sites/:site/sortplan", s.getSortPlan)
	api.PUT("/sites/:site/sortplan", s.putSortPlan)
}

func (s *Server) getSortPlan(c echo.Context) error {
	if s.SortPlans == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "sort plans are not available")
	}
	site := c.Param("site")
	if err := s.site(site); err != nil {
		return err
	}
	p := s.SortPlans.Get(site)
	if p == nil {
		return echo.NewHTTPError(http.StatusNotFound, "no sort plan for "+site)
	}
	return c.JSONBlob(http.StatusOK, p)
}

// putSortPlan saves a new version of a township's plan (a
// contract.SortPlan) and sends it to the township's edges online now; the
// others get it as they come online. A plan that fails its check (a route
// without villages' bins, a bin serving two routes, no exception bin) is a
// 400 naming the problem. A plan saved is recorded in the audit log
// (sortplan.put) when the hub has a logistics store.
func (s *Server) putSortPlan(c echo.Context) error {
	if s.SortPlans == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "sort plans are not available")
	}
	site := c.Param("site")
	if err := s.site(site); err != nil {
		return err
	}
	by, err := actor(c)
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, contract.MaxPayloadBytes))
	if err != nil {
		return badRequest("the plan must be at most %d bytes: %v", contract.MaxPayloadBytes, err)
	}
	version, sent, err := s.SortPlans.Put(c.Request().Context(), site, raw)
	var ce *contract.Error
	switch {
	case errors.As(err, &ce):
		return badRequest("%v", err)
	case errors.Is(err, hub.ErrOtherSite):
		return badRequest("%v", err)
	case err != nil:
		return err
	}
	if sent == nil {
		sent = []string{}
	}
	s.audit(c.Request().Context(), by, AuditSortPlanPut, site, site, map[string]any{"version": version, "sent_to": sent})
	return c.JSON(http.StatusOK, map[string]any{"site": site, "version": version, "sent_to": sent})
}
