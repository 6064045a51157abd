package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/countylink/countylink/hub/manifest"
)

// Manifests imports and serves courier manifests.
type Manifests interface {
	Import(ctx context.Context, r io.Reader, site, format, source string) (*manifest.Batch, manifest.Saved, error)
	Batches(ctx context.Context, site string, limit int) ([]*manifest.StoredBatch, error)
	Parcel(ctx context.Context, waybill string) (*manifest.StoredParcel, error)
}

func (s *Server) manifestRoutes(api *echo.Group) {
	api.POST(strings.TrimPrefix(manifestImportPath, "/api/v1"), s.importManifest)
	api.GET("/manifests", s.listManifests)
	api.GET("/manifests/parcels/:waybill", s.manifestParcel)
}

// manifestImportPath is the manifest import's route, the one whose body
// may exceed MaxBody: up to manifest.DefaultMaxBytes.
const manifestImportPath = "/api/v1/manifests"

// ManifestReadTimeout is how long the upload of a manifest may take: 32 MiB
// at 1 Mbit/s.
const ManifestReadTimeout = 5 * time.Minute

func (s *Server) manifests() (Manifests, error) {
	if s.Manifests == nil {
		return nil, echo.NewHTTPError(http.StatusServiceUnavailable, "manifests are not available")
	}
	return s.Manifests, nil
}

// importManifest imports the body, a CSV or JSON manifest (format=csv|json,
// else guessed), for site (or the rows' own township column). It answers
// 200 with the batch's report, the same report again for a manifest
// already imported, 422 when no row was accepted, 400 when the body is no
// manifest at all.
func (s *Server) importManifest(c echo.Context) error {
	ms, err := s.manifests()
	if err != nil {
		return err
	}
	site, err := s.siteQuery(c)
	if err != nil {
		return err
	}
	format := c.QueryParam("format")
	if format == "" {
		switch ct := c.Request().Header.Get(echo.HeaderContentType); {
		case strings.Contains(ct, "json"):
			format = "json"
		case strings.Contains(ct, "csv"):
			format = "csv"
		}
	}
	source := "api"
	if n := c.QueryParam("name"); n != "" {
		source = "api:" + clip(n)
	}
	by, err := actor(c)
	if err != nil {
		return err
	}
	if c.Request().ContentLength > manifest.DefaultMaxBytes {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("a manifest is at most %d bytes", manifest.DefaultMaxBytes))
	}
	// A day's manifest over a township's uplink takes longer than the
	// server's read timeout allows other requests.
	http.NewResponseController(c.Response()).SetReadDeadline(time.Now().Add(ManifestReadTimeout))
	body := http.MaxBytesReader(c.Response(), c.Request().Body, manifest.DefaultMaxBytes)
	b, saved, err := ms.Import(c.Request().Context(), body, site, format, source)
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("a manifest is at most %d bytes", manifest.DefaultMaxBytes))
	case errors.Is(err, manifest.ErrFormat):
		return badRequest("%v", err)
	case err != nil:
		return err
	}
	s.audit(c.Request().Context(), by, AuditManifest, b.Site, b.ID, map[string]any{"source": source, "rows": b.Report.Rows,
		"accepted": b.Report.Accepted, "rejected": b.Report.Rejected})
	out := map[string]any{"batch": b.ID, "site": b.Site, "report": b.Report, "saved": saved}
	if b.Report.Accepted == 0 {
		return c.JSON(http.StatusUnprocessableEntity, out)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) listManifests(c echo.Context) error {
	ms, err := s.manifests()
	if err != nil {
		return err
	}
	site, err := s.siteQuery(c)
	if err != nil {
		return err
	}
	limit, err := limitQuery(c, 50, 500)
	if err != nil {
		return err
	}
	if site == "" {
		// A principal of one township lists its township's batches; a
		// batch of several townships (site "") is the county's.
		site = ownTownship(c)
	}
	bs, err := ms.Batches(c.Request().Context(), site, limit)
	if err != nil {
		return err
	}
	if bs == nil {
		bs = []*manifest.StoredBatch{}
	}
	return c.JSON(http.StatusOK, bs)
}

func (s *Server) manifestParcel(c echo.Context) error {
	ms, err := s.manifests()
	if err != nil {
		return err
	}
	wb := strings.ToUpper(strings.TrimSpace(c.Param("waybill")))
	if wb == "" || len(wb) > 64 {
		return badRequest("waybill %q is not a waybill number", clip(wb))
	}
	p, err := ms.Parcel(c.Request().Context(), wb)
	if err != nil {
		return err
	}
	if p == nil {
		return echo.NewHTTPError(http.StatusNotFound, "no announced parcel "+wb)
	}
	return c.JSON(http.StatusOK, p)
}
