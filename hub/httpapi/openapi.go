package httpapi

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPI is the OpenAPI 3.0.3 description of every route of the hub's
// HTTP interface. openapi_test checks that it lists exactly the routes
// the router has.
//
//go:embed openapi.json
var openAPI []byte

// serveOpenAPI serves the description: GET /api/v1/openapi.json.
func serveOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPI)
}
