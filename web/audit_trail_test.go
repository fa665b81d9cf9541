package web_test

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/google/uuid"
	"golang.org/x/net/html/atom"

	"github.com/latchkey/latchkey/internal/testing/htmltest"
	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/seam/sandbox"
	"github.com/latchkey/latchkey/store"
)

var exportHeader = []string{"id", "at", "actor_id", "subject_user_id", "action", "outcome", "device_id",
	"device_name", "account_name", "action_attempt_id", "detail", "remote_addr", "user_agent"}

// TestAdminExportsActivity: an admin downloads a customer's whole trail as CSV and as
// JSON Lines, both audited; a cell a spreadsheet would run is neutralised in the CSV
// and kept verbatim in the JSON; customers get 403, unknown users 404.
func TestAdminExportsActivity(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	bob := signIn(t, p, "bob")
	admin := signIn(t, p, "admin")
	connectLocks(t, p, alice, sandbox.JaneEmail)
	formula := "=HYPERLINK(\"http://evil.test\",\"x\")"
	if err := p.DB.AppendAudit(t.Context(), store.AuditEvent{ActorID: alice.user.ID, SubjectUserID: alice.user.ID,
		Action: store.AuditAccessDenied, Outcome: store.OutcomeDenied, Detail: formula, DeviceID: uuid.NewString(),
		DeviceName: "+Gate", UserAgent: "@agent", RemoteAddr: "-1"}); err != nil {
		t.Fatal(err)
	}

	res, body := p.Get(t, admin.c, "/admin/users/"+alice.user.ID)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("admin page: %d", res.StatusCode)
	}
	var links []string
	for _, a := range htmltest.Find(parseDoc(t, body), htmltest.ByTag(atom.A)) {
		links = append(links, htmltest.Attr(a, "href"))
	}
	for _, want := range []string{"/admin/users/" + alice.user.ID + "/activity.csv", "/admin/users/" + alice.user.ID + "/activity.jsonl"} {
		if !slices.Contains(links, want) {
			t.Errorf("the admin page does not link to %s", want)
		}
	}

	t.Run("csv", func(t *testing.T) {
		mark := lastAuditID(t, p)
		res, body := p.Get(t, admin.c, "/admin/users/"+alice.user.ID+"/activity.csv")
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") ||
			res.Header.Get("Content-Disposition") != `attachment; filename="latchkey-activity-`+alice.user.ID+`.csv"` {
			t.Fatalf("GET activity.csv: %d, %q, %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"))
		}
		recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(recs[0], exportHeader) {
			t.Fatalf("header %q", recs[0])
		}
		want := aliceEvents(t, p, alice.user.ID)
		if len(recs)-1 != len(want) {
			t.Fatalf("%d rows, want alice's %d events", len(recs)-1, len(want))
		}
		var injected []string
		for i, rec := range recs[1:] {
			if rec[0] != itoa(want[i].ID) || rec[4] != want[i].Action {
				t.Errorf("row %d: id %s action %s, want %d %s (oldest first)", i, rec[0], rec[4], want[i].ID, want[i].Action)
			}
			for _, cell := range rec {
				if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
					t.Errorf("row %d: cell %q would run as a formula", i, cell)
				}
			}
			if rec[4] == store.AuditAccessDenied && rec[10] == "'"+formula {
				injected = rec
			}
		}
		if injected == nil || injected[7] != "'+Gate" || injected[12] != "'@agent" || injected[11] != "'-1" {
			t.Errorf("the formula row was not neutralised: %q", injected)
		}
		if !slices.ContainsFunc(recs[1:], func(r []string) bool {
			return r[4] == store.AuditConnectCompleted && r[8] == "August account "+sandbox.JaneEmail
		}) {
			t.Error("the connection's row does not name the account")
		}
		assertExportAudited(t, p, mark, admin.user.ID, alice.user.ID, "csv")
	})

	t.Run("jsonl", func(t *testing.T) {
		mark := lastAuditID(t, p)
		res, body := p.Get(t, admin.c, "/admin/users/"+alice.user.ID+"/activity.jsonl")
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/jsonl") ||
			!strings.Contains(res.Header.Get("Content-Disposition"), ".jsonl\"") {
			t.Fatalf("GET activity.jsonl: %d, %q, %q", res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"))
		}
		want := aliceEvents(t, p, alice.user.ID)
		sc := bufio.NewScanner(strings.NewReader(body))
		n := 0
		for sc.Scan() {
			var obj map[string]string
			if err := json.Unmarshal(sc.Bytes(), &obj); err != nil {
				t.Fatalf("line %d: %v: %s", n, err, sc.Text())
			}
			if n >= len(want) || obj["id"] != itoa(want[n].ID) || obj["action"] != want[n].Action || len(obj) != len(exportHeader) {
				t.Fatalf("line %d: %v", n, obj)
			}
			if obj["action"] == store.AuditAccessDenied && (obj["detail"] != formula || obj["device_name"] != "+Gate") {
				t.Errorf("JSON changed the values: %v", obj)
			}
			if n == 0 && !strings.HasPrefix(sc.Text(), `{"id":`) {
				t.Errorf("keys out of order: %s", sc.Text())
			}
			n++
		}
		if n != len(want) {
			t.Errorf("%d lines, want %d", n, len(want))
		}
		assertExportAudited(t, p, mark, admin.user.ID, alice.user.ID, "jsonl")
	})

	t.Run("on the admin's own trail", func(t *testing.T) {
		_, body := p.Get(t, admin.c, "/activity")
		if !strings.Contains(body, "Exported a customer&#39;s activity") && !strings.Contains(body, "Exported a customer's activity") {
			t.Error("the admin's activity does not show the export")
		}
	})

	t.Run("not for customers", func(t *testing.T) {
		for _, path := range []string{"/admin/users/" + alice.user.ID + "/activity.csv", "/admin/users/" + bob.user.ID + "/activity.jsonl"} {
			res, body := p.Get(t, alice.c, path)
			if res.StatusCode != http.StatusForbidden || strings.Contains(body, bob.user.ID) {
				t.Errorf("alice GET %s: %d, want 403 without data", path, res.StatusCode)
			}
		}
		for _, id := range []string{uuid.NewString(), "not-a-uuid"} {
			if res, _ := p.Get(t, admin.c, "/admin/users/"+id+"/activity.csv"); res.StatusCode != http.StatusNotFound {
				t.Errorf("admin GET activity.csv of %s: %d, want 404", id, res.StatusCode)
			}
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// aliceEvents are the events the export must hold, oldest first.
func aliceEvents(t *testing.T, p *testportal.Portal, userID string) []store.AuditEvent {
	t.Helper()
	var out []store.AuditEvent
	if err := p.DB.EachAudit(t.Context(), userID, func(e store.AuditEvent) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func assertExportAudited(t *testing.T, p *testportal.Portal, mark int64, adminID, subjectID, format string) {
	t.Helper()
	for _, e := range auditSince(t, p, mark) {
		if e.Action == store.AuditAdminExportActivity && e.ActorID == adminID && e.SubjectUserID == subjectID && strings.HasPrefix(e.Detail, format) {
			return
		}
	}
	t.Errorf("the %s export was not audited", format)
}

// TestAdminViewsAudited: opening the list of every customer writes an audit row with
// the admin as actor; a customer's refused admin path is kept bounded, quoted and
// marked as theirs.
func TestAdminViewsAudited(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	admin := signIn(t, p, "admin")

	mark := lastAuditID(t, p)
	if res, _ := p.Get(t, admin.c, "/admin/users"); res.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin/users: %d", res.StatusCode)
	}
	listed := 0
	for _, e := range auditSince(t, p, mark) {
		if e.Action == store.AuditAdminListUsers && e.ActorID == admin.user.ID && e.Outcome == store.OutcomeSuccess {
			listed++
		}
	}
	if listed != 1 {
		t.Errorf("%d %s events by the admin, want 1", listed, store.AuditAdminListUsers)
	}
	if _, body := p.Get(t, admin.c, "/activity"); !strings.Contains(body, "Listed every customer") {
		t.Error("the admin's activity does not show the listing")
	}

	mark = lastAuditID(t, p)
	path := "/admin/users/%1B%5B31mFAKE%0Aauth.login%20ok" + strings.Repeat("x", 500)
	if res, _ := p.Get(t, alice.c, path); res.StatusCode != http.StatusForbidden {
		t.Fatalf("alice GET %s: %d, want 403", path, res.StatusCode)
	}
	var denied []store.AuditEvent
	for _, e := range auditSince(t, p, mark) {
		if e.Action == store.AuditAdminAccessDenied {
			denied = append(denied, e)
		}
	}
	if len(denied) != 1 {
		t.Fatalf("%d %s events, want 1", len(denied), store.AuditAdminAccessDenied)
	}
	d := denied[0].Detail
	if !strings.HasPrefix(d, `path (client-supplied): "/admin/users/\x1b[31mFAKE\nauth.login ok`) || len(d) > 260 ||
		strings.ContainsFunc(d, unicode.IsControl) {
		t.Errorf("detail %q (%d bytes): want the path quoted, marked and bounded", d, len(d))
	}
}

// TestActivityShowsRecordedNames: the trail names a device by the name recorded with
// the event, so it still reads right once the device is gone from the account.
func TestActivityShowsRecordedNames(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	alice := signIn(t, p, "alice")
	admin := signIn(t, p, "admin")
	gone := uuid.NewString()
	if err := p.DB.AppendAudit(t.Context(), store.AuditEvent{ActorID: alice.user.ID, SubjectUserID: alice.user.ID,
		Action: store.AuditDeviceUnlockSucceeded, Outcome: store.OutcomeSuccess, DeviceID: gone, DeviceName: "Old garage door"}); err != nil {
		t.Fatal(err)
	}
	for _, page := range []struct {
		c    customer
		path string
	}{{alice, "/activity"}, {admin, "/admin/users/" + alice.user.ID}} {
		res, body := p.Get(t, page.c.c, page.path)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", page.path, res.StatusCode)
		}
		if !strings.Contains(body, "Old garage door") || strings.Contains(body, "Lock "+gone[:8]) {
			t.Errorf("GET %s does not name the gone device by its recorded name", page.path)
		}
	}
}
