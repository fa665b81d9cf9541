// Package e2e holds Latchkey's browser tests: Debian's chromium, driven by chromedp,
// against the whole portal started in-process (dev IdP, Seam sandbox, temp SQLite),
// every server on 127.0.0.1. Each step saves a full-page screenshot under
// artifacts/e2e/<test>/ at the repository root; assertions are on the DOM.
package e2e
