// Package metrics counts what an operator of Latchkey watches: HTTP requests by route,
// calls to Seam by outcome, lock/unlock outcomes, refusals by the limits, the database
// pools and the followers' backlog. Every App has its own registry, served by Handler
// on a separate, private address; nothing registers with Prometheus's global one.
package metrics

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Unmatched is the route label of requests that matched no route of the mux.
const Unmatched = "unmatched"

// Metrics holds one portal's collectors. Its methods are safe for concurrent use.
type Metrics struct {
	registry *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	seamRequests *prometheus.CounterVec
	seamDuration *prometheus.HistogramVec
	actions      *prometheus.CounterVec
	refusals     *prometheus.CounterVec
}

// New returns Metrics on a fresh registry that also carries the Go runtime and process
// collectors.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_http_requests_total",
			Help: "HTTP requests answered, by route pattern (\"unmatched\" when no route matched), method and status.",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "latchkey_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		seamRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_seam_requests_total",
			Help: "HTTP attempts made to the Seam API (each retry counts), by endpoint and outcome: ok, 429, 4xx, 5xx, invalid, network, timeout or canceled.",
		}, []string{"endpoint", "outcome"}),
		seamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "latchkey_seam_request_duration_seconds",
			Help:    "Duration of one HTTP attempt to the Seam API, by endpoint.",
			Buckets: prometheus.DefBuckets,
		}, []string{"endpoint"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_actions_settled_total",
			Help: "Lock and unlock actions settled, by action (unlock, lock) and final status (success, error, timeout, unknown, not_sent).",
		}, []string{"action", "status"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_refusals_total",
			Help: "Requests refused by a limit or check, by kind (rate_limited, busy, budget, not_owned, unavailable, unreachable).",
		}, []string{"kind"}),
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.httpRequests, m.httpDuration,
		m.seamRequests, m.seamDuration,
		m.actions, m.refusals,
	)
	return m
}

// Handler serves the registry in the Prometheus exposition formats. A collector that
// fails (the backlog query, say) leaves its series out of that scrape and is counted in
// promhttp_metric_handler_errors_total; the rest is still served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.registry,
		Timeout:       10 * time.Second,
	})
}

// ActionSettled counts a lock or unlock action reaching its final status.
func (m *Metrics) ActionSettled(action, status string) {
	m.actions.WithLabelValues(action, status).Inc()
}

// Refused counts a request refused by a limit or check, by kind.
func (m *Metrics) Refused(kind string) {
	m.refusals.WithLabelValues(kind).Inc()
}

// SeamAttempt records one HTTP attempt to the Seam API: status is the HTTP status (0
// when no response arrived) and err what the client made of it. Its shape is the one
// seam.WithObserver takes.
func (m *Metrics) SeamAttempt(endpoint string, status int, err error, d time.Duration) {
	m.seamRequests.WithLabelValues(endpoint, seamOutcome(status, err)).Inc()
	m.seamDuration.WithLabelValues(endpoint).Observe(d.Seconds())
}

// seamOutcome names an attempt's outcome with few enough values to alert on.
func seamOutcome(status int, err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case status == 0:
		return "network"
	case status == http.StatusTooManyRequests:
		return "429"
	case status >= 500:
		return "5xx"
	case status >= 400:
		return "4xx"
	case err != nil:
		// A 2xx whose body could not be read or was not what Seam promises.
		return "invalid"
	}
	return "ok"
}

// Middleware counts and times every request it wraps, labelled with the route pattern
// the mux matched. The mux sets the pattern on the request it was handed, which is not
// the one Middleware sees when another middleware between them copied the request, so
// wrap the mux with RoutePattern to pass the pattern back.
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		slot := &routeSlot{}
		r = r.WithContext(context.WithValue(r.Context(), routeKey{}, slot))
		rec := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(rec, r)

		route := slot.pattern
		if route == "" {
			route = r.Pattern // next was the mux itself
		}
		if route == "" {
			route = Unmatched
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		method := methodLabel(r.Method)
		m.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
		m.httpDuration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	})
}

// RoutePattern wraps a ServeMux (or a handler that passes its request on to one) and,
// once it has answered, hands the pattern it matched to the enclosing Middleware.
func (m *Metrics) RoutePattern(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if slot, ok := r.Context().Value(routeKey{}).(*routeSlot); ok {
			slot.pattern = r.Pattern
		}
	})
}

// routeSlot is where RoutePattern leaves the matched pattern for Middleware. Both run
// on the request's goroutine, one after the other, so it needs no lock.
type routeSlot struct{ pattern string }

type routeKey struct{}

// methodLabel keeps the method label to the methods HTTP defines, so a client sending
// made-up methods cannot create series without end.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "OTHER"
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	// 1xx answers (103 Early Hints) are not the final status.
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer (flush, deadlines).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// CollectDBStats reports a database pool's use at every scrape, labelled db=name.
// Like ServeMux.Handle with a duplicate pattern, it panics if name is already collected.
func (m *Metrics) CollectDBStats(name string, stats func() sql.DBStats) {
	m.registry.MustRegister(newDBStatsCollector(name, stats))
}

// FollowBacklog reports, at every scrape, how many lock/unlock actions are still open
// (waiting for the followers), as counted by count. A failed count leaves the series
// out of that scrape. It panics if called twice.
func (m *Metrics) FollowBacklog(count func() (int, error)) {
	m.registry.MustRegister(&backlogCollector{
		desc: prometheus.NewDesc("latchkey_follow_backlog",
			"Lock and unlock actions not yet settled, which the followers still have to follow.", nil, nil),
		count: count,
	})
}

type backlogCollector struct {
	desc  *prometheus.Desc
	count func() (int, error)
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	n, err := c.count()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n))
}

// dbStatsCollector turns sql.DBStats into metrics; the counters among them only grow
// for the life of the pool.
type dbStatsCollector struct {
	stats                      func() sql.DBStats
	maxOpen, open, inUse, idle *prometheus.Desc
	waitCount, waitDuration    *prometheus.Desc
	maxIdleClosed              *prometheus.Desc
	maxIdleTimeClosed          *prometheus.Desc
	maxLifetimeClosed          *prometheus.Desc
}

func newDBStatsCollector(name string, stats func() sql.DBStats) *dbStatsCollector {
	labels := prometheus.Labels{"db": name}
	desc := func(metric, help string) *prometheus.Desc {
		return prometheus.NewDesc("latchkey_db_"+metric, help, nil, labels)
	}
	return &dbStatsCollector{
		stats:             stats,
		maxOpen:           desc("max_open_connections", "Maximum number of open connections to the database (0 = unlimited)."),
		open:              desc("open_connections", "Established connections, in use or idle."),
		inUse:             desc("in_use_connections", "Connections currently in use."),
		idle:              desc("idle_connections", "Idle connections."),
		waitCount:         desc("wait_count_total", "Times a caller waited for a connection."),
		waitDuration:      desc("wait_duration_seconds_total", "Total time callers waited for a connection."),
		maxIdleClosed:     desc("max_idle_closed_total", "Connections closed because of the idle connection limit."),
		maxIdleTimeClosed: desc("max_idle_time_closed_total", "Connections closed because they were idle too long."),
		maxLifetimeClosed: desc("max_lifetime_closed_total", "Connections closed because they reached their maximum lifetime."),
	}
}

func (c *dbStatsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.maxOpen, c.open, c.inUse, c.idle, c.waitCount, c.waitDuration, c.maxIdleClosed, c.maxIdleTimeClosed, c.maxLifetimeClosed} {
		ch <- d
	}
}

func (c *dbStatsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	gauge := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.maxOpen, float64(s.MaxOpenConnections))
	gauge(c.open, float64(s.OpenConnections))
	gauge(c.inUse, float64(s.InUse))
	gauge(c.idle, float64(s.Idle))
	counter(c.waitCount, float64(s.WaitCount))
	counter(c.waitDuration, s.WaitDuration.Seconds())
	counter(c.maxIdleClosed, float64(s.MaxIdleClosed))
	counter(c.maxIdleTimeClosed, float64(s.MaxIdleTimeClosed))
	counter(c.maxLifetimeClosed, float64(s.MaxLifetimeClosed))
}
