package sandbox

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// controlPost posts one control form the way the page's buttons do, with the
// headers a browser sends for a same-origin form.
func (e *env) controlPost(op, id string, header http.Header) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+ControlPath, strings.NewReader(url.Values{"op": {op}, "id": {id}}.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	return res
}

func TestControlPage(t *testing.T) {
	e := newEnv(t, Options{})
	_, accID := e.connectUser("u", JaneEmail)
	devs := ids(e.ok("devices/list", map[string]any{"user_identifier_key": "u"}), "devices", "device_id")
	front := devs[0] // Front Door: online, locked

	p := e.getPage(e.srv.URL + ControlPath)
	if p.status != http.StatusOK || !strings.Contains(p.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Fatalf("GET: %d %v", p.status, p.header)
	}
	if h1 := p.find("h1"); len(h1) != 1 {
		t.Error("no h1")
	}
	if len(p.find("h2", "id", "a-"+accID)) != 1 || len(p.find("tr", "id", "d-"+front)) != 1 {
		t.Error("the account or its device is missing")
	}
	for _, b := range p.find("button") {
		if label, _ := attr(b, "aria-label"); label == "" || text(b) == "" {
			t.Errorf("button without a label: %q", text(b))
		}
	}
	if links := p.find("link"); len(links) != 0 || len(p.find("script")) != 0 {
		t.Error("the page loads outside assets or scripts")
	}

	sameOrigin := http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {e.srv.URL}}
	steps := []struct {
		op, id string
		check  func() bool
	}{
		{"unlock", front, func() bool { return e.locked(front) == false }},
		{"lock", front, func() bool { return e.locked(front) == true }},
		{"offline", front, func() bool { return dig(e.device(front), "properties.online") == false }},
		{"online", front, func() bool { return dig(e.device(front), "properties.online") == true }},
		{"drain", front, func() bool { return str(e.device(front), "properties.battery.status") == "low" }},
		{"restore", front, func() bool { return str(e.device(front), "properties.battery.status") == "full" }},
		{"disconnect", accID, func() bool {
			return slices.Contains(ids(e.device(front), "errors", "error_code"), "account_disconnected")
		}},
		{"reconnect", accID, func() bool { return len(list(e.device(front), "errors")) == 0 }},
	}
	for _, s := range steps {
		res := e.controlPost(s.op, s.id, sameOrigin)
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), ControlPath+"#") {
			t.Errorf("%s: %d, Location %q", s.op, res.StatusCode, res.Header.Get("Location"))
		}
		if !s.check() {
			t.Errorf("%s did not take effect", s.op)
		}
	}
	wantTypes := []string{
		"lock.unlocked", "lock.locked", "device.disconnected", "device.connected",
		"device.low_battery", "device.battery_status_changed", "device.battery_status_changed",
		"connected_account.disconnected",
	}
	got := eventTypes(e.allEvents())
	if !containsInOrder(got, wantTypes) {
		t.Errorf("events %v, want in order %v", got, wantTypes)
	}
	manual := list(e.ok("events/list", map[string]any{"since": "2000-01-01", "event_type": "lock.unlocked"}), "events")
	if len(manual) != 1 || str(manual[0], "method") != "manual" {
		t.Errorf("unlock by hand: %v", manual)
	}

	// Other sites cannot drive the page; unknown operations and ids are refused.
	for name, h := range map[string]http.Header{
		"cross-site fetch metadata": {"Sec-Fetch-Site": {"cross-site"}},
		"foreign origin":            {"Origin": {"http://evil.test"}},
	} {
		if res := e.controlPost("unlock", front, h); res.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, res.StatusCode)
		}
	}
	if e.locked(front) != true {
		t.Error("a cross-origin POST unlocked the door")
	}
	if res := e.controlPost("explode", front, sameOrigin); res.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown op: %d", res.StatusCode)
	}
	if res := e.controlPost("unlock", "nope", sameOrigin); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown device: %d", res.StatusCode)
	}
	// A client without browser headers (curl) may post.
	if res := e.controlPost("remove", devs[1], nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("remove: %d", res.StatusCode)
	}
	if res := e.controlPost("delete", accID, nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("delete: %d", res.StatusCode)
	}
	p = e.getPage(e.srv.URL + ControlPath)
	if len(p.find("tr", "id", "d-"+front)) != 0 {
		t.Error("the deleted account's device is still listed")
	}
	if e.sb.ControlURL() != ControlPath {
		t.Errorf("ControlURL without a public URL: %q", e.sb.ControlURL())
	}
}

func (e *env) device(id string) map[string]any {
	e.t.Helper()
	return e.ok("devices/get", map[string]any{"device_id": id})["device"].(map[string]any)
}

// containsInOrder reports whether want appears in got as a subsequence.
func containsInOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}
