package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/latchkey/latchkey/handlers"
)

// staticFile is one embedded asset with its content hash.
type staticFile struct {
	body []byte
	hash string
}

// staticFiles serves the embedded assets under /static/. A URL carrying the file's
// current hash (?v=…) may be cached for a year; any other is revalidated by ETag.
type staticFiles struct {
	files    map[string]staticFile
	h        *handlers.Handlers
	modified time.Time
}

func newStaticFiles(fsys fs.FS, h *handlers.Handlers) (*staticFiles, error) {
	s := &staticFiles{files: map[string]staticFile{}, h: h, modified: time.Now()}
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		s.files[path] = staticFile{body: body, hash: hex.EncodeToString(sum[:8])}
		return nil
	})
	return s, err
}

// URL returns the cache-busting URL of an asset, e.g. /static/css/app.css?v=1a2b….
func (s *staticFiles) URL(path string) string {
	f, ok := s.files[path]
	if !ok {
		panic("static: no embedded file " + path) // a programming error caught at start-up
	}
	return "/static/" + path + "?v=" + f.hash
}

func (s *staticFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, strings.TrimPrefix(r.URL.Path, "/static/"))
}

// File serves one asset at a fixed URL of its own (e.g. /favicon.ico, which browsers
// ask for whatever the page says).
func (s *staticFiles) File(name string) http.Handler {
	if _, ok := s.files[name]; !ok {
		panic("static: no embedded file " + name) // a programming error caught at start-up
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, name) })
}

func (s *staticFiles) serve(w http.ResponseWriter, r *http.Request, name string) {
	f, ok := s.files[name]
	if !ok {
		s.h.ServeError(w, r, handlers.StatusError(http.StatusNotFound))
		return
	}
	if r.URL.Query().Get("v") == f.hash {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("ETag", `"`+f.hash+`"`)
	http.ServeContent(w, r, name, s.modified, bytes.NewReader(f.body))
}
