// Package static holds Latchkey's browser assets (built CSS, vendored htmx and small
// behaviour scripts), embedded into the binary so a deployment is one file.
package static

import "embed"

// FS holds every file served under /static/ (and the icon at /favicon.ico). The Tailwind input stylesheet is left out:
// only the built, minified css/app.css ships.
//
//go:embed css/app.css js img
var FS embed.FS
