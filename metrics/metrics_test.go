package metrics_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/latchkey/latchkey/metrics"
	"github.com/latchkey/latchkey/seam"
)

// scrape reads m's handler the way Prometheus does.
func scrape(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: status %d\n%s", rec.Code, rec.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return fams
}

// sample finds the series of family name with exactly labels (name=value pairs); ok is
// false when there is none.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) (*dto.Metric, bool) {
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range fams[name].GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return m, true
		}
	}
	return nil, false
}

// value is the counter or gauge value of a series, failing the test when it is missing.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	m, ok := sample(fams, name, labels...)
	if !ok {
		t.Fatalf("no series %s%v among %v", name, labels, fams[name].GetMetric())
	}
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return m.GetGauge().GetValue()
}

// cloneRequest stands for the portal's middleware that hand the next handler a copy of
// the request (r.WithContext, r.Clone), so the mux sets the pattern on a request the
// outer Middleware never sees.
func cloneRequest(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.Clone(r.Context()))
	})
}

func TestMiddlewareRecordsRoutePatternAndStatus(t *testing.T) {
	routes := func() *http.ServeMux {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /devices/{id}", func(w http.ResponseWriter, r *http.Request) {
			if r.PathValue("id") == "missing" {
				http.NotFound(w, r)
				return
			}
			w.Write([]byte("a device"))
		})
		mux.HandleFunc("POST /devices/{id}/unlock", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusSeeOther)
		})
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
		return mux
	}
	stacks := []struct {
		name  string
		build func(m *metrics.Metrics) http.Handler
	}{
		{"mux directly inside", func(m *metrics.Metrics) http.Handler {
			return m.Middleware(routes())
		}},
		{"request copied between them", func(m *metrics.Metrics) http.Handler {
			return m.Middleware(cloneRequest(m.RoutePattern(routes())))
		}},
	}
	requests := []struct {
		method, path string
		route        string
		status       string
	}{
		{"GET", "/devices/d1", "GET /devices/{id}", "200"},
		{"GET", "/devices/missing", "GET /devices/{id}", "404"},
		{"POST", "/devices/d1/unlock", "POST /devices/{id}/unlock", "303"},
		{"GET", "/healthz", "GET /healthz", "200"}, // wrote nothing: 200
		{"GET", "/nowhere", metrics.Unmatched, "404"},
		{"DELETE", "/healthz", metrics.Unmatched, "405"},
		{"BREW", "/healthz", metrics.Unmatched, "405"},
	}
	for _, st := range stacks {
		t.Run(st.name, func(t *testing.T) {
			m := metrics.New()
			h := st.build(m)
			for _, rq := range requests {
				h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(rq.method, rq.path, nil))
			}
			fams := scrape(t, m)
			for _, rq := range requests {
				method := rq.method
				if method == "BREW" {
					method = "OTHER"
				}
				if got := value(t, fams, "latchkey_http_requests_total", "method", method, "route", rq.route, "status", rq.status); got != 1 {
					t.Errorf("%s %s: counted %v times, want 1", rq.method, rq.path, got)
				}
			}
			d, ok := sample(fams, "latchkey_http_request_duration_seconds", "method", "GET", "route", "GET /devices/{id}")
			if !ok || d.GetHistogram().GetSampleCount() != 2 {
				t.Errorf("duration histogram of GET /devices/{id} = %v, want 2 samples", d)
			}
		})
	}
}

func TestMiddlewareKeepsResponseControllerWorking(t *testing.T) {
	m := metrics.New()
	var flushErr error
	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		flushErr = http.NewResponseController(w).Flush()
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/events", nil))
	if flushErr != nil {
		t.Fatalf("Flush through the middleware: %v", flushErr)
	}
	if !rec.Flushed {
		t.Error("the underlying writer was not flushed")
	}
	if got := value(t, scrape(t, m), "latchkey_http_requests_total", "method", "GET", "route", metrics.Unmatched, "status", "202"); got != 1 {
		t.Errorf("counted %v, want 1", got)
	}
}

func TestSeamAttemptOutcomes(t *testing.T) {
	timeout := fmt.Errorf("no response within 10s: %w", context.DeadlineExceeded)
	seamErr := &seam.Error{Type: "x", Status: 500}
	tests := []struct {
		status int
		err    error
		want   string
	}{
		{200, nil, "ok"},
		{201, nil, "ok"},
		{200, errors.New("read response: connection reset"), "invalid"},
		{0, errors.New("connection refused"), "network"},
		{0, timeout, "timeout"},
		{0, context.Canceled, "canceled"},
		{400, &seam.Error{Type: "invalid_input", Status: 400}, "4xx"},
		{404, &seam.Error{Type: "not_found", Status: 404}, "4xx"},
		{429, &seam.Error{Type: "rate_limited", Status: 429}, "429"},
		{500, seamErr, "5xx"},
		{503, seamErr, "5xx"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d %v", tt.status, tt.err), func(t *testing.T) {
			m := metrics.New()
			m.SeamAttempt("devices/list", tt.status, tt.err, 30*time.Millisecond)
			fams := scrape(t, m)
			if got := value(t, fams, "latchkey_seam_requests_total", "endpoint", "devices/list", "outcome", tt.want); got != 1 {
				t.Errorf("outcome %s counted %v times, want 1", tt.want, got)
			}
			d, ok := sample(fams, "latchkey_seam_request_duration_seconds", "endpoint", "devices/list")
			if !ok || d.GetHistogram().GetSampleSum() != 0.03 {
				t.Errorf("duration = %v, want one sample of 0.03s", d)
			}
		})
	}
}

// TestSeamClientFeedsMetrics wires a real Seam client to Metrics: a 503 then a success
// are two attempts of one read.
func TestSeamClientFeedsMetrics(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Content-Type", "application/json")
		if calls == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":{"type":"service_unavailable","message":"down"},"ok":false}`))
			return
		}
		w.Write([]byte(`{"devices":[],"pagination":{"has_next_page":false},"ok":true}`))
	}))
	defer srv.Close()
	m := metrics.New()
	client := seam.New("seam_test_key",
		seam.WithEndpoint(srv.URL),
		seam.WithRetry(2, time.Millisecond, time.Millisecond),
		seam.WithObserver(m.SeamAttempt))
	if _, err := client.Devices.List(t.Context(), seam.ListDevicesParams{UserIdentifierKey: "u1"}); err != nil {
		t.Fatalf("List: %v", err)
	}
	fams := scrape(t, m)
	for _, outcome := range []string{"5xx", "ok"} {
		if got := value(t, fams, "latchkey_seam_requests_total", "endpoint", "devices/list", "outcome", outcome); got != 1 {
			t.Errorf("outcome %s counted %v times, want 1", outcome, got)
		}
	}
}

func TestActionsAndRefusals(t *testing.T) {
	m := metrics.New()
	m.ActionSettled("unlock", "success")
	m.ActionSettled("unlock", "success")
	m.ActionSettled("lock", "timeout")
	m.Refused("rate_limited")
	fams := scrape(t, m)
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"latchkey_actions_settled_total", []string{"action", "unlock", "status", "success"}, 2},
		{"latchkey_actions_settled_total", []string{"action", "lock", "status", "timeout"}, 1},
		{"latchkey_refusals_total", []string{"kind", "rate_limited"}, 1},
	}
	for _, c := range checks {
		if got := value(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

func TestDBStatsAndBacklogCollectedAtScrape(t *testing.T) {
	m := metrics.New()
	stats := sql.DBStats{MaxOpenConnections: 10, OpenConnections: 3, InUse: 2, Idle: 1, WaitCount: 4, WaitDuration: 1500 * time.Millisecond}
	m.CollectDBStats("main", func() sql.DBStats { return stats })
	backlog, backlogErr := 7, error(nil)
	m.FollowBacklog(func() (int, error) { return backlog, backlogErr })

	fams := scrape(t, m)
	checks := []struct {
		name string
		want float64
	}{
		{"latchkey_db_max_open_connections", 10},
		{"latchkey_db_open_connections", 3},
		{"latchkey_db_in_use_connections", 2},
		{"latchkey_db_idle_connections", 1},
		{"latchkey_db_wait_count_total", 4},
		{"latchkey_db_wait_duration_seconds_total", 1.5},
	}
	for _, c := range checks {
		if got := value(t, fams, c.name, "db", "main"); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	if got := value(t, fams, "latchkey_follow_backlog"); got != 7 {
		t.Errorf("backlog = %v, want 7", got)
	}

	// Read again at the next scrape, not remembered.
	stats.InUse, backlog = 5, 2
	fams = scrape(t, m)
	if got := value(t, fams, "latchkey_db_in_use_connections", "db", "main"); got != 5 {
		t.Errorf("in use at the second scrape = %v, want 5", got)
	}
	if got := value(t, fams, "latchkey_follow_backlog"); got != 2 {
		t.Errorf("backlog at the second scrape = %v, want 2", got)
	}

	// A failed count drops the backlog from that scrape but not the rest.
	backlogErr = errors.New("database is locked")
	fams = scrape(t, m)
	if _, ok := fams["latchkey_follow_backlog"]; ok {
		t.Error("backlog reported although counting it failed")
	}
	if got := value(t, fams, "latchkey_db_open_connections", "db", "main"); got != 3 {
		t.Errorf("open connections = %v after a failed backlog count, want 3", got)
	}
	// The handler counts the failure after it answered, so the next scrape shows it.
	if got := value(t, scrape(t, m), "promhttp_metric_handler_errors_total", "cause", "gathering"); got != 1 {
		t.Errorf("handler errors = %v, want 1", got)
	}
}

func TestRegistryIsPerInstance(t *testing.T) {
	a, b := metrics.New(), metrics.New()
	a.Refused("busy")
	fams := scrape(t, b)
	if _, ok := sample(fams, "latchkey_refusals_total", "kind", "busy"); ok {
		t.Error("a refusal counted on one Metrics shows on another")
	}
	want := []string{"go_goroutines"}
	if runtime.GOOS == "linux" { // the process collector reads /proc
		want = append(want, "process_start_time_seconds")
	}
	for _, name := range want {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s missing: the Go and process collectors are not registered", name)
		}
	}
}
