package dashboard

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// FS returns the dashboard's files with index.html, the wall screen, at
// the root.
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic("dashboard: embedded static folder missing: " + err.Error())
	}
	return sub
}

// contentTypes is fixed here rather than taken from the mime package,
// which reads the host's tables: some hosts map .js to text/plain, which
// browsers refuse to run under X-Content-Type-Options: nosniff.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".json": "application/json; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
}

// assetMaxAge is how long a browser may reuse a page asset without asking.
// The asset names carry no version, so it stays short: after a hub upgrade
// a reloaded page runs the new script within five minutes at worst, and a
// revalidation costs a 304 thanks to the ETag.
const assetMaxAge = "public, max-age=300"

// Has reports whether urlPath ("/app.js", "/" for the wall screen) names
// one of the dashboard's files exactly: the server refuses any other path
// (a "..", an encoded or doubled slash, a backslash) before it is served.
func Has(urlPath string) bool {
	if urlPath == "/" {
		return true
	}
	name, ok := strings.CutPrefix(urlPath, "/")
	if !ok || !fs.ValidPath(name) || strings.ContainsAny(name, `\:`) {
		return false
	}
	fi, err := fs.Stat(FS(), name)
	return err == nil && !fi.IsDir()
}

// Handler serves FS over HTTP for GET and HEAD. The pages (the .html
// files, index.html also at "/") are sent with Cache-Control: no-cache so
// a reload always picks up a new page; other files may be cached for a few
// minutes. Every file carries a strong ETag computed from its content, so
// revalidation is cheap.
func Handler() http.Handler {
	fsys := FS()
	etags := make(map[string]string)
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		etags["/"+p] = `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
		return nil
	})
	files := http.FileServer(http.FS(fsys))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// Only a canonical path gets the file's headers: FileServer answers
		// the others ("/index.html", "/app.js/") with a redirect.
		name := r.URL.Path
		if name == "/" {
			name = "/index.html"
		}
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if tag, ok := etags[name]; ok && r.URL.Path != "/index.html" {
			// http.ServeContent answers If-None-Match from this header.
			h.Set("ETag", tag)
			if ct, ok := contentTypes[path.Ext(name)]; ok {
				h.Set("Content-Type", ct)
			}
			if path.Ext(name) == ".html" {
				h.Set("Cache-Control", "no-cache")
			} else {
				h.Set("Cache-Control", assetMaxAge)
			}
		}
		files.ServeHTTP(w, r)
	})
}
