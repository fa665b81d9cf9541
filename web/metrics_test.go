package web_test

import (
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/seam/sandbox"
)

// scrapeMetrics reads the portal's metrics address the way Prometheus does.
func scrapeMetrics(t *testing.T, p *testportal.Portal) map[string]*dto.MetricFamily {
	t.Helper()
	addr := p.App.MetricsAddr()
	if addr == "" {
		t.Fatal("the portal serves no metrics although LATCHKEY_METRICS_ADDR is set")
	}
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d", res.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return fams
}

// sumWhere adds up the counters of family name whose labels include every pair in
// labels; found says whether any series matched.
func sumWhere(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (sum float64, found bool) {
	for _, m := range fams[name].GetMetric() {
		matched := 0
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; ok && v == l.GetValue() {
				matched++
			}
		}
		if matched == len(labels) {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			found = true
		}
	}
	return sum, found
}

func TestMetricsServedOnTheirOwnAddress(t *testing.T) {
	p := testportal.Start(t, testportal.Options{Env: map[string]string{"LATCHKEY_METRICS_ADDR": "127.0.0.1:0"}})
	anonymous := p.Client(t)
	if res, _ := p.Get(t, anonymous, "/healthz"); res.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %d", res.StatusCode)
	}
	if res, _ := p.Get(t, anonymous, "/devices"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /devices signed out: %d, want 303", res.StatusCode)
	}
	if res, _ := p.Get(t, anonymous, "/no-such-page"); res.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /no-such-page: %d, want 404", res.StatusCode)
	}
	// The portal itself does not serve them.
	if res, _ := p.Get(t, anonymous, "/metrics"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the portal: %d, want 404", res.StatusCode)
	}
	alice := signIn(t, p, "alice")
	connectLocks(t, p, alice, sandbox.JaneEmail)
	if res, _ := p.Get(t, alice.c, "/devices"); res.StatusCode != http.StatusOK {
		t.Fatalf("GET /devices signed in: %d", res.StatusCode)
	}

	fams := scrapeMetrics(t, p)
	requests := []struct {
		route, method, status string
	}{
		{"GET /healthz", "GET", "200"},
		{"GET /devices", "GET", "303"},
		{"GET /devices", "GET", "200"},
		{"POST /connect", "POST", "303"},
		{"unmatched", "GET", "404"},
	}
	for _, rq := range requests {
		labels := map[string]string{"route": rq.route, "method": rq.method, "status": rq.status}
		if n, _ := sumWhere(fams, "latchkey_http_requests_total", labels); n < 1 {
			t.Errorf("latchkey_http_requests_total%v = %v, want at least 1", labels, n)
		}
	}
	if n, _ := sumWhere(fams, "latchkey_seam_requests_total", map[string]string{"outcome": "ok"}); n < 1 {
		t.Errorf("no successful Seam call counted after connecting an account: %v", fams["latchkey_seam_requests_total"])
	}
	if _, found := sumWhere(fams, "latchkey_seam_request_duration_seconds", map[string]string{"endpoint": "connect_webviews/create"}); !found {
		t.Errorf("no latency recorded for connect_webviews/create: %v", fams["latchkey_seam_request_duration_seconds"])
	}
	for _, name := range []string{"latchkey_db_open_connections", "latchkey_follow_backlog", "go_goroutines"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s not served", name)
		}
	}
}

func TestMetricsOffByDefault(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	if addr := p.App.MetricsAddr(); addr != "" {
		t.Errorf("metrics served on %s without LATCHKEY_METRICS_ADDR", addr)
	}
	if res, _ := p.Get(t, p.Client(t), "/metrics"); res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the portal: %d, want 404", res.StatusCode)
	}
}
