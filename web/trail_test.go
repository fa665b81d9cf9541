package web_test

import (
	"encoding/csv"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/latchkey/latchkey/internal/testing/htmltest"
	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/seam/sandbox"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/views"
)

// trailRow is one row of an activity table, read through its cells.
type trailRow struct {
	datetime, when, what, device, result, outcome string
}

// trailRows reads the activity table of a page. withDevice: the table has a Device column.
func trailRows(t *testing.T, body string, withDevice bool) []trailRow {
	t.Helper()
	var out []trailRow
	for _, tr := range htmltest.Find(parseDoc(t, body), func(n *html.Node) bool { return n.DataAtom == atom.Tr && n.Parent.DataAtom == atom.Tbody }) {
		tds := htmltest.Find(tr, htmltest.ByTag(atom.Td))
		if len(tds) < 4 {
			t.Fatalf("activity row with %d cells", len(tds))
		}
		tm := htmltest.Find(tds[0], htmltest.ByTag(atom.Time))
		if len(tm) != 1 {
			t.Fatal("activity row without <time>")
		}
		r := trailRow{datetime: htmltest.Attr(tm[0], "datetime"), when: htmltest.Text(tm[0]), what: htmltest.Text(tds[1])}
		res := tds[2]
		if withDevice {
			r.device, res = htmltest.Text(tds[2]), tds[3]
		}
		r.result = htmltest.Text(res)
		if b := htmltest.Find(res, func(n *html.Node) bool { return htmltest.Attr(n, "data-outcome") != "" }); len(b) == 1 {
			r.outcome = htmltest.Attr(b[0], "data-outcome")
		}
		out = append(out, r)
	}
	return out
}

// seedAction records an action of u on device that ended in status with reason, as
// locks does: the request, then the outcome with its audit row.
func seedAction(t *testing.T, p *testportal.Portal, u customer, device, status, auditAction, reason string) store.ActionAttempt {
	t.Helper()
	a, err := p.DB.BeginAction(t.Context(), store.NewAction{
		Attempt: store.ActionAttempt{ID: uuid.NewString(), UserID: u.user.ID, DeviceID: device, DeviceName: "Seeded lock",
			Action: store.ActionUnlock, CreatedAt: time.Now()},
		Limit: 1000, Window: time.Minute,
		Audit: store.AuditEvent{ActorID: u.user.ID, SubjectUserID: u.user.ID, Action: store.AuditDeviceUnlockRequested,
			DeviceID: device, DeviceName: "Seeded lock", Outcome: store.OutcomeSuccess},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, changed, err := p.DB.TransitionAction(t.Context(), store.Transition{ID: a.ID, From: []string{store.AttemptRequested},
		To: status, Error: reason, At: time.Now(), Audit: store.AuditEvent{ActorID: u.user.ID, SubjectUserID: u.user.ID,
			Action: auditAction, DeviceID: device, DeviceName: "Seeded lock", Outcome: store.OutcomeFailure, Detail: reason}}); err != nil || !changed {
		t.Fatalf("settle seeded action: %v %v", changed, err)
	}
	return a
}

// TestTrailOneEntryPerAction: each unlock is one entry that says how it ended —
// unlocked, failed with the reason in words, outcome unknown, not sent — never
// "requested · OK"; the filters narrow by outcome and device; bad filters are ignored
// with a notice.
func TestTrailOneEntryPerAction(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	bob := signIn(t, p, "bob")
	front := connectLocks(t, p, alice, sandbox.JaneEmail).deviceID(t, "Front Door")
	bobsLock := connectLocks(t, p, bob, sandbox.JohnEmail).deviceID(t, "Main Entrance")

	// A real success and a real failure through the sandbox.
	res, body := htmxPost(t, p, alice.c, "/devices/"+front+"/unlock")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("unlock: %d", res.StatusCode)
	}
	attempt, _, _ := attemptFragment(t, body)
	if got := pollAttempt(t, p, alice.c, front, attempt); !strings.HasPrefix(got, "Front Door unlocked at ") {
		t.Fatalf("unlock ended %q", got)
	}
	p.Sandbox.FailNextAction(front, "device_offline", "")
	_, body = htmxPost(t, p, alice.c, "/devices/"+front+"/unlock")
	attempt, _, _ = attemptFragment(t, body)
	if got := pollAttempt(t, p, alice.c, front, attempt); got != "Could not unlock: The lock was offline." {
		t.Errorf("failed unlock's status %q, want the reason in words", got)
	}
	// An unknown and a not-sent outcome, as locks records them.
	other := uuid.NewString()
	seedAction(t, p, alice, other, store.AttemptUnknown, store.AuditDeviceActionUnknown, "")
	seedAction(t, p, alice, other, store.AttemptNotSent, store.AuditDeviceActionNotSent, "it could not be sent in time. Nothing was done.")

	res, body = p.Get(t, alice.c, "/activity")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /activity: %d", res.StatusCode)
	}
	rows := trailRows(t, body, true)
	var results []string
	for _, r := range rows {
		if strings.HasPrefix(r.what, "Unlock requested") {
			results = append(results, r.outcome+": "+r.result+" | "+r.what)
		}
		if strings.Contains(r.what, "sent to the lock service") || r.what == "Unlocked" || r.what == "Unlock failed" {
			t.Errorf("a step of an action has its own entry: %+v", r)
		}
		if r.result == "OK" {
			t.Errorf("an entry reads OK: %+v", r)
		}
	}
	want := []string{
		"not_sent: Not sent | Unlock requested It could not be sent in time. Nothing was done.",
		"unknown: Outcome unknown | Unlock requested No answer was recorded. Check the door.",
		"failed: Failed | Unlock requested The lock was offline.",
		"succeeded: Unlocked | Unlock requested",
	}
	if !slices.Equal(results, want) {
		t.Errorf("actions on /activity:\n%q\nwant\n%q", results, want)
	}
	for _, r := range rows {
		if r.what == "Unlock requested The lock was offline." && r.device != "Front Door" {
			t.Errorf("the failed unlock names device %q, want Front Door", r.device)
		}
	}
	if strings.Contains(body, "device_offline") {
		t.Error("/activity shows the raw code device_offline")
	}

	// Filters.
	for _, c := range []struct {
		query string
		want  []string // the results of the rows
	}{
		{"?outcome=failed", []string{"Failed"}},
		{"?outcome=unknown", []string{"Outcome unknown"}},
		{"?outcome=not_sent", []string{"Not sent"}},
		{"?device=" + other, []string{"Not sent", "Outcome unknown"}},
		{"?device=" + front + "&outcome=succeeded", []string{"Unlocked"}},
		{"?device=" + bobsLock, nil},
	} {
		res, body := p.Get(t, alice.c, "/activity"+c.query)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET /activity%s: %d", c.query, res.StatusCode)
		}
		var got []string
		for _, r := range trailRows(t, body, true) {
			got = append(got, r.result)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("/activity%s results %q, want %q", c.query, got, c.want)
		}
	}
	for _, q := range []string{"?outcome=bogus", "?device=not-a-device", "?before=abc", "?after=-3", "?outcome=%27%20OR%201=1", "?device=" + strings.Repeat("x", 5000)} {
		res, body := p.Get(t, alice.c, "/activity"+q)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET /activity%s: %d, want 200 with the filter ignored", q, res.StatusCode)
			continue
		}
		if !strings.Contains(body, "was not understood and was ignored") {
			t.Errorf("GET /activity%s: no notice", q)
		}
		if n := len(trailRows(t, body, true)); n != len(rows) {
			t.Errorf("GET /activity%s: %d rows, want all %d", q, n, len(rows))
		}
	}
}

// TestTrailPagesOnTheDevicePage: the device page's activity is 25 entries a page with
// Older and Newer links; only the newest page is the one live updates replace.
func TestTrailPagesOnTheDevicePage(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	front := connectLocks(t, p, alice, sandbox.JaneEmail).deviceID(t, "Front Door")
	start := time.Now().UTC().Add(-time.Hour)
	for i := range 30 {
		if err := p.DB.AppendAudit(t.Context(), store.AuditEvent{At: start.Add(time.Duration(i) * time.Second),
			ActorID: alice.user.ID, SubjectUserID: alice.user.ID, Action: store.AuditDeviceActionBusy, DeviceID: front,
			DeviceName: "Front Door", Outcome: store.OutcomeDenied, Detail: "unlock refused: a lock is in progress"}); err != nil {
			t.Fatal(err)
		}
	}
	link := func(body, text string) string {
		t.Helper()
		as := htmltest.Find(parseDoc(t, body), func(n *html.Node) bool { return n.DataAtom == atom.A && htmltest.Text(n) == text })
		if len(as) != 1 {
			return ""
		}
		return htmltest.Attr(as[0], "href")
	}
	path := "/devices/" + front
	res, first := p.Get(t, alice.c, path)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("device page: %d", res.StatusCode)
	}
	if n := len(trailRows(t, first, false)); n != 25 {
		t.Errorf("device page 1: %d rows, want 25", n)
	}
	if byID(parseDoc(t, first), "activity-"+front) == nil {
		t.Error("the newest page has no live activity card")
	}
	older := link(first, "Older →")
	if !strings.HasPrefix(older, path+"?before=") || link(first, "← Newer") != "" {
		t.Fatalf("page 1 links: older %q newer %q", older, link(first, "← Newer"))
	}
	res, second := p.Get(t, alice.c, older)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", older, res.StatusCode)
	}
	rows := trailRows(t, second, false)
	if len(rows) != 5 {
		t.Errorf("device page 2: %d rows, want 5", len(rows))
	}
	for _, r := range rows {
		if r.what != "Unlock refused Another lock or unlock of this lock was in progress." || r.result != "Refused: busy" {
			t.Errorf("device page 2 row %+v", r)
		}
	}
	if byID(parseDoc(t, second), "activity-"+front) != nil {
		t.Error("an older page would be replaced by live updates")
	}
	if link(second, "Older →") != "" || link(second, "« Newest") != path {
		t.Errorf("page 2 links: older %q newest %q", link(second, "Older →"), link(second, "« Newest"))
	}
	newer := link(second, "← Newer")
	res, back := p.Get(t, alice.c, newer)
	if res.StatusCode != http.StatusOK || !strings.Contains(newer, "after=") {
		t.Fatalf("GET %q: %d", newer, res.StatusCode)
	}
	var backTimes, firstTimes []string
	for _, r := range trailRows(t, back, false) {
		backTimes = append(backTimes, r.datetime)
	}
	for _, r := range trailRows(t, first, false) {
		if !strings.Contains(r.what, "(") { // Latchkey's entries; Seam's carry their method
			firstTimes = append(firstTimes, r.datetime)
		}
	}
	if len(backTimes) != 25 || !slices.Equal(backTimes, firstTimes[:25]) {
		t.Errorf("Newer from page 2 = %d rows %q, want page 1's %q", len(backTimes), backTimes, firstTimes)
	}
	if res, _ := p.Get(t, alice.c, path+"?before=zzz"); res.StatusCode != http.StatusOK {
		t.Errorf("a bad cursor on the device page: %d", res.StatusCode)
	}
}

// TestTrailFilterOnTheDevicePage: the device page's activity filters by outcome too,
// its pages keep the filter, Seam's own lock events (not actions) are left out of a
// filtered list, a filtered list is not replaced by live updates, and an outcome that
// is not one is ignored and said.
func TestTrailFilterOnTheDevicePage(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	front := connectLocks(t, p, alice, sandbox.JaneEmail).deviceID(t, "Front Door")
	// Seam's own history: an unlock and a lock at the door.
	for _, locked := range []bool{false, true} {
		if err := p.Sandbox.SetLocked(front, locked, sandbox.MethodManual); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now().UTC().Add(-time.Hour)
	for i := range 30 {
		if err := p.DB.AppendAudit(t.Context(), store.AuditEvent{At: start.Add(time.Duration(i) * time.Second),
			ActorID: alice.user.ID, SubjectUserID: alice.user.ID, Action: store.AuditDeviceActionBusy, DeviceID: front,
			DeviceName: "Front Door", Outcome: store.OutcomeDenied, Detail: "unlock refused: a lock is in progress"}); err != nil {
			t.Fatal(err)
		}
	}
	p.Sandbox.FailNextAction(front, "device_offline", "")
	res, body := htmxPost(t, p, alice.c, "/devices/"+front+"/unlock")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("unlock: %d", res.StatusCode)
	}
	attempt, _, _ := attemptFragment(t, body)
	pollAttempt(t, p, alice.c, front, attempt)
	p.SettleEvents(t)

	path := "/devices/" + front
	_, body = p.Get(t, alice.c, path+"?outcome=failed")
	doc := parseDoc(t, body)
	if rows := trailRows(t, body, false); len(rows) != 1 || rows[0].what != "Unlock requested The lock was offline." || rows[0].outcome != "failed" {
		t.Errorf("device page, failed only: %+v, want the one failed unlock", rows)
	}
	if sel := htmltest.Find(doc, htmltest.HasAttr("name", "device")); len(sel) != 0 {
		t.Error("the device page's filter offers a choice of device")
	}
	if byID(doc, "activity-"+front) != nil {
		t.Error("a filtered list would be replaced by live updates")
	}

	_, body = p.Get(t, alice.c, path+"?outcome=refused")
	rows := trailRows(t, body, false)
	if len(rows) != 25 {
		t.Errorf("device page, refused only: %d rows, want 25", len(rows))
	}
	for _, r := range rows {
		if r.outcome != "refused" {
			t.Errorf("refused only: row %+v", r)
		}
	}
	older := ""
	for _, a := range htmltest.Find(parseDoc(t, body), htmltest.HasAttr("rel", "next")) {
		older = htmltest.Attr(a, "href")
	}
	if !strings.HasPrefix(older, path+"?") || !strings.Contains(older, "outcome=refused") || strings.Contains(older, "device=") {
		t.Fatalf("refused only: the Older link is %q, want the device page keeping the filter", older)
	}
	_, body = p.Get(t, alice.c, older)
	if rows := trailRows(t, body, false); len(rows) != 5 {
		t.Errorf("refused only, page 2: %d rows, want 5", len(rows))
	}

	// Unfiltered, Seam's lock event is there.
	_, body = p.Get(t, alice.c, path)
	if !slices.ContainsFunc(trailRows(t, body, false), func(r trailRow) bool { return r.what == "Locked (manual)" }) {
		t.Error("the unfiltered device page lacks Seam's lock event")
	}
	res, body = p.Get(t, alice.c, path+"?outcome=nonsense")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "was not understood and was ignored") {
		t.Errorf("a bad outcome on the device page: %d, no notice", res.StatusCode)
	}
}

// TestOwnActivityCSV: /activity.csv is the user's own trail, one row an entry, cells a
// spreadsheet would run neutralised, and the export is audited; bob never sees alice's.
func TestOwnActivityCSV(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	bob := signIn(t, p, "bob")
	seedAction(t, p, alice, uuid.NewString(), store.AttemptError, store.AuditDeviceUnlockFailed, "user_cancelled")
	if err := p.DB.AppendAudit(t.Context(), store.AuditEvent{ActorID: alice.user.ID, SubjectUserID: alice.user.ID,
		Action: store.AuditDeviceActionBusy, DeviceID: uuid.NewString(), DeviceName: "=HYPERLINK(\"http://evil\")",
		Outcome: store.OutcomeDenied}); err != nil {
		t.Fatal(err)
	}
	res, body := p.Get(t, alice.c, "/activity.csv")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("GET /activity.csv: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"))
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recs[0], []string{"id", "time_utc", "what", "device", "account", "result", "reason"}) {
		t.Errorf("header %q", recs[0])
	}
	var failed, injected bool
	for _, r := range recs[1:] {
		if r[2] == "Unlock requested" {
			failed = r[5] == "Failed" && r[6] == "You cancelled the sign-in at the provider." && r[3] == "Seeded lock"
		}
		if strings.Contains(r[3], "HYPERLINK") {
			injected = r[3] == "'=HYPERLINK(\"http://evil\")"
		}
		if _, err := time.Parse(time.RFC3339, r[1]); err != nil {
			t.Errorf("time %q: %v", r[1], err)
		}
	}
	if !failed || !injected {
		t.Errorf("export rows (failed %v, neutralised %v):\n%s", failed, injected, body)
	}
	if len(auditFor(t, p, store.AuditExportActivity, "")) != 1 {
		t.Error("the export is not audited")
	}

	res, bobs := p.Get(t, bob.c, "/activity.csv")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("bob's export: %d", res.StatusCode)
	}
	if strings.Contains(bobs, "Seeded lock") || strings.Contains(bobs, "HYPERLINK") || strings.Contains(bobs, alice.user.ID) {
		t.Errorf("bob's export shows alice's activity:\n%s", bobs)
	}
	if res, _ := p.Get(t, p.Client(t), "/activity.csv"); res.StatusCode == http.StatusOK {
		t.Error("an anonymous visitor got an export")
	}
}

// TestTimeZone: the browser's report and the settings form store a valid zone for the
// signed-in user only; an unknown zone changes nothing; pages then show times in it.
func TestTimeZone(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	bob := signIn(t, p, "bob")
	zoneOf := func(u customer) string {
		t.Helper()
		got, err := p.DB.UserByID(t.Context(), u.user.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.TimeZone
	}

	// Before: UTC, labelled, and the page asks the script to report.
	res, body := p.Get(t, alice.c, "/activity")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /activity: %d", res.StatusCode)
	}
	doc := parseDoc(t, body)
	bodies := htmltest.Find(doc, htmltest.ByTag(atom.Body))
	if len(bodies) != 1 || htmltest.Attr(bodies[0], "data-time-zone") != "" || htmltest.Attr(bodies[0], "data-time-zone-report") != "/settings/timezone" {
		t.Fatal("the page does not ask for the browser's zone")
	}
	if !strings.Contains(body, "/static/js/timezone.js?v=") {
		t.Error("the page does not load js/timezone.js")
	}
	for _, r := range trailRows(t, body, true) {
		if !strings.HasSuffix(r.when, " UTC") {
			t.Errorf("time %q without a zone is not labelled UTC", r.when)
		}
	}

	for _, bad := range []string{"Mars/Olympus_Mons", "Local", "", "../../etc/passwd", strings.Repeat("A", 300)} {
		res, _ := p.Post(t, alice.c, "/settings/timezone", url.Values{"time_zone": {bad}, "source": {"browser"}})
		if res.StatusCode != http.StatusBadRequest {
			t.Errorf("zone %.20q: %d, want 400", bad, res.StatusCode)
		}
		res, body := p.Post(t, alice.c, "/settings/timezone", url.Values{"time_zone": {bad}})
		if res.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not known") {
			t.Errorf("zone %.20q from the form: %d", bad, res.StatusCode)
		}
	}
	if z := zoneOf(alice); z != "" {
		t.Fatalf("a refused zone was stored: %q", z)
	}
	res, _ = p.Post(t, alice.c, "/settings/timezone", url.Values{"time_zone": {"Asia/Kolkata"}, "source": {"browser"}})
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("the browser's report: %d, want 204", res.StatusCode)
	}
	if zoneOf(alice) != "Asia/Kolkata" || zoneOf(bob) != "" {
		t.Errorf("zones alice %q bob %q; want only alice's set", zoneOf(alice), zoneOf(bob))
	}
	// Another site cannot set it.
	res, _ = testportal.Do(t, alice.c, http.MethodPost, p.URL+"/settings/timezone", url.Values{"time_zone": {"America/New_York"}},
		http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}})
	if res.StatusCode != http.StatusForbidden || zoneOf(alice) != "Asia/Kolkata" {
		t.Errorf("a cross-site POST: %d, zone %q", res.StatusCode, zoneOf(alice))
	}

	// After: times in Kolkata, the UTC instant in datetime.
	res, body = p.Get(t, alice.c, "/activity")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /activity: %d", res.StatusCode)
	}
	bodies = htmltest.Find(parseDoc(t, body), htmltest.ByTag(atom.Body))
	if htmltest.Attr(bodies[0], "data-time-zone") != "Asia/Kolkata" {
		t.Error("the page does not know the stored zone")
	}
	rows := trailRows(t, body, true)
	if len(rows) == 0 {
		t.Fatal("no activity")
	}
	kolkata := views.NewClock("Asia/Kolkata", "")
	for _, r := range rows {
		at, err := time.Parse(time.RFC3339, r.datetime)
		if err != nil || !strings.HasSuffix(r.datetime, "Z") {
			t.Fatalf("datetime %q is not UTC: %v", r.datetime, err)
		}
		if want := kolkata.DateTime(at); r.when != want {
			t.Errorf("time %q, want %q (Kolkata)", r.when, want)
		}
	}
	// A 12-hour browser.
	res, body = testportal.Do(t, alice.c, http.MethodGet, p.URL+"/activity", nil, http.Header{"Accept-Language": {"en-US,en;q=0.9"}})
	if res.StatusCode != http.StatusOK {
		t.Fatal(res.StatusCode)
	}
	for _, r := range trailRows(t, body, true) {
		if !strings.HasSuffix(r.when, "AM") && !strings.HasSuffix(r.when, "PM") {
			t.Errorf("en-US time %q is not 12-hour", r.when)
		}
	}
	// bob's pages are still in UTC.
	_, body = p.Get(t, bob.c, "/activity")
	for _, r := range trailRows(t, body, true) {
		if !strings.HasSuffix(r.when, " UTC") {
			t.Errorf("bob's time %q is not UTC", r.when)
		}
	}

	// An admin's pages too: the user list in the admin's zone.
	admin := signIn(t, p, "admin")
	if res, _ := p.Post(t, admin.c, "/settings/timezone", url.Values{"time_zone": {"America/New_York"}, "source": {"browser"}}); res.StatusCode != http.StatusNoContent {
		t.Fatalf("admin's zone: %d", res.StatusCode)
	}
	res, body = p.Get(t, admin.c, "/admin/users")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin/users: %d", res.StatusCode)
	}
	times := htmltest.Find(parseDoc(t, body), htmltest.ByTag(atom.Time))
	if len(times) == 0 {
		t.Fatal("no times on /admin/users")
	}
	newYork := views.NewClock("America/New_York", "")
	for _, tm := range times {
		at, err := time.Parse(time.RFC3339, htmltest.Attr(tm, "datetime"))
		if err != nil || htmltest.Text(tm) != newYork.DateTime(at) {
			t.Errorf("admin time %q (%s), want New York's", htmltest.Text(tm), htmltest.Attr(tm, "datetime"))
		}
	}

	// The settings page shows and changes it without JavaScript.
	res, body = p.Get(t, alice.c, "/settings")
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `<option value="Asia/Kolkata" selected>`) {
		t.Errorf("GET /settings: %d; Asia/Kolkata not selected", res.StatusCode)
	}
	res, _ = p.Post(t, alice.c, "/settings/timezone", url.Values{"time_zone": {"America/New_York"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/settings" || zoneOf(alice) != "America/New_York" {
		t.Errorf("the settings form: %d %q, zone %q", res.StatusCode, res.Header.Get("Location"), zoneOf(alice))
	}
}

// trailNames reports whether one entry of c's /activity says what and names name (a
// device or an account) in its row.
func trailNames(t *testing.T, p *testportal.Portal, c *http.Client, what, name string) bool {
	t.Helper()
	_, body := p.Get(t, c, "/activity")
	for _, tr := range htmltest.Find(parseDoc(t, body), htmltest.ByTag(atom.Tr)) {
		if text := htmltest.Text(tr); strings.Contains(text, what) && strings.Contains(text, name) {
			return true
		}
	}
	return false
}
