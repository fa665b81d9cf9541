package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Health is what readiness depends on.
type Health struct {
	// Database must answer, and Writable (a rate-limited write probe) must succeed,
	// for the portal to be ready: a database that cannot be written loses sessions
	// and audit rows.
	Database interface{ Ping(context.Context) error }
	Writable func(ctx context.Context) error
	// Seam, when set, reports Seam's reachability; it never fails readiness, so a Seam
	// outage does not take sign-in and every page out of rotation.
	Seam func(ctx context.Context) error
}

type readiness struct {
	Status   string `json:"status"`
	Database string `json:"database"`
	Seam     string `json:"seam,omitempty"`
}

// Healthz answers 200 while the process serves.
func (h *Handlers) Healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// Readyz answers 200 when the database answers and takes writes, and 503 with the
// reason otherwise.
func (h *Handlers) Readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	res, status := readiness{Status: "ok", Database: "ok"}, http.StatusOK
	if h.Health.Database == nil {
		res.Database, res.Status, status = "not configured", "unavailable", http.StatusServiceUnavailable
	} else if err := h.Health.Database.Ping(ctx); err != nil {
		h.Log.WarnContext(ctx, "readiness: database does not answer", "error", err)
		res.Database, res.Status, status = "unreachable", "unavailable", http.StatusServiceUnavailable
	} else if h.Health.Writable != nil {
		if err := h.Health.Writable(ctx); err != nil {
			h.Log.WarnContext(ctx, "readiness: database cannot be written", "error", err)
			res.Database, res.Status, status = "not writable", "unavailable", http.StatusServiceUnavailable
		}
	}
	if h.Health.Seam != nil {
		// Its own bound: a slow database must not make Seam look down.
		sctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		res.Seam = "ok"
		if err := h.Health.Seam(sctx); err != nil {
			res.Seam = "unreachable"
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(res)
}
