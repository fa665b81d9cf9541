package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
)

func TestAppendAuditStoresEmptyIDsAsNullAndDefaultsTime(t *testing.T) {
	pgtest.EachDialect(t, testAppendAuditStoresEmptyIDsAsNullAndDefaultsTime)
}

func testAppendAuditStoresEmptyIDsAsNullAndDefaultsTime(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	before := time.Now().UTC().Add(-time.Second)
	if err := db.AppendAudit(ctx, AuditEvent{Action: AuditCallbackFailed, Outcome: OutcomeFailure, RemoteAddr: "192.0.2.1"}); err != nil {
		t.Fatal(err)
	}
	var nulls int
	err := db.SQL().QueryRowContext(ctx, `SELECT
    CASE WHEN actor_id IS NULL THEN 1 ELSE 0 END + CASE WHEN subject_user_id IS NULL THEN 1 ELSE 0 END +
    CASE WHEN device_id IS NULL THEN 1 ELSE 0 END + CASE WHEN action_attempt_id IS NULL THEN 1 ELSE 0 END
FROM audit_events`).Scan(&nulls)
	if err != nil {
		t.Fatal(err)
	}
	if nulls != 4 {
		t.Errorf("%d of 4 empty ids stored as NULL", nulls)
	}
	events, _, err := db.ListAudit(ctx, AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Fatalf("%d events, want 1", len(events))
	}
	e := events[0]
	if e.At.Before(before) || e.At.After(time.Now().Add(time.Second)) || e.At.Location() != time.UTC {
		t.Errorf("At = %v, want about now in UTC", e.At)
	}
	if e.ActorID != "" || e.Action != AuditCallbackFailed || e.Outcome != OutcomeFailure || e.RemoteAddr != "192.0.2.1" {
		t.Errorf("event = %+v", e)
	}
	if err := db.AppendAudit(ctx, AuditEvent{Outcome: OutcomeFailure}); err == nil {
		t.Error("an event without an action was accepted")
	}
}

func TestAppendAuditTruncatesLongFields(t *testing.T) {
	pgtest.EachDialect(t, testAppendAuditTruncatesLongFields)
}

func testAppendAuditTruncatesLongFields(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	ua := strings.Repeat("é", 1000) // 2000 bytes
	detail := strings.Repeat("x", 10000) + "\x00\xff"
	if err := db.AppendAudit(ctx, AuditEvent{Action: AuditLogin, Outcome: OutcomeSuccess, UserAgent: ua, Detail: detail}); err != nil {
		t.Fatal(err)
	}
	events, _, err := db.ListAudit(ctx, AuditQuery{})
	if err != nil {
		t.Fatal(err)
	}
	e := events[0]
	if len(e.UserAgent) > maxUserAgentBytes || len(e.UserAgent) < maxUserAgentBytes-1 || !utf8.ValidString(e.UserAgent) {
		t.Errorf("user agent kept %d bytes (valid UTF-8 %v), want about %d", len(e.UserAgent), utf8.ValidString(e.UserAgent), maxUserAgentBytes)
	}
	if len(e.Detail) != maxDetailBytes {
		t.Errorf("detail kept %d bytes, want %d", len(e.Detail), maxDetailBytes)
	}
	if got := clean("ab\x00c\xff", 100); got != "abc\uFFFD" {
		t.Errorf("clean = %q, want NUL dropped and invalid UTF-8 replaced", got)
	}
}

func TestAuditIsAppendOnly(t *testing.T) { pgtest.EachDialect(t, testAuditIsAppendOnly) }

func testAuditIsAppendOnly(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	if err := db.AppendAudit(ctx, AuditEvent{Action: AuditLogin, Outcome: OutcomeSuccess}); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{`UPDATE audit_events SET outcome = 'denied'`, `DELETE FROM audit_events`} {
		if _, err := db.SQL().ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: err = %v, want append-only refusal", stmt, err)
		}
	}
}

func TestListAuditPaginatesNewestFirst(t *testing.T) {
	pgtest.EachDialect(t, testListAuditPaginatesNewestFirst)
}

func testListAuditPaginatesNewestFirst(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	// Events 1..7: odd ones are about alice, even ones about bob; event 6 has
	// alice as the actor (an admin looking at bob), 3 and 5 are on device d1.
	for i := 1; i <= 7; i++ {
		e := AuditEvent{Action: AuditDeviceUnlockRequested, Outcome: OutcomeSuccess, Detail: fmt.Sprint(i), SubjectUserID: "bob", ActorID: "bob"}
		if i%2 == 1 {
			e.SubjectUserID, e.ActorID = "alice", "alice"
		}
		if i == 6 {
			e.ActorID, e.Action = "alice", AuditAdminViewUser
		}
		if i == 3 || i == 5 {
			e.DeviceID = "d1"
		}
		if err := db.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		query AuditQuery
		pages [][]string // details, page by page
	}{
		{"everything in pages of 3", AuditQuery{Limit: 3}, [][]string{{"7", "6", "5"}, {"4", "3", "2"}, {"1"}}},
		{"exact multiple ends without an empty page", AuditQuery{Limit: 7}, [][]string{{"7", "6", "5", "4", "3", "2", "1"}}},
		{"subject or actor", AuditQuery{UserID: "alice", Limit: 2}, [][]string{{"7", "6"}, {"5", "3"}, {"1"}}},
		{"device", AuditQuery{DeviceID: "d1"}, [][]string{{"5", "3"}}},
		{"user and device", AuditQuery{UserID: "bob", DeviceID: "d1"}, [][]string{nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := tt.query
			for i, want := range tt.pages {
				events, next, err := db.ListAudit(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, e := range events {
					got = append(got, e.Detail)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("page %d = %v, want %v", i, got, want)
				}
				last := i == len(tt.pages)-1
				if last != (next == 0) {
					t.Fatalf("page %d: next = %d, last page = %v", i, next, last)
				}
				if !last && next != events[len(events)-1].ID {
					t.Fatalf("page %d: next = %d, want the last id shown (%d)", i, next, events[len(events)-1].ID)
				}
				q.Before = next
			}
		})
	}
}

func BenchmarkAppendAudit(b *testing.B) {
	ctx := context.Background()
	db := newTestDB(b)
	e := AuditEvent{
		ActorID: "3f1c1a3e-7a51-4e7b-9d7c-0d6c1c2f4b11", SubjectUserID: "3f1c1a3e-7a51-4e7b-9d7c-0d6c1c2f4b11",
		Action: AuditDeviceUnlockRequested, DeviceID: "device_1", ActionAttemptID: "aa_1", Outcome: OutcomeSuccess,
		RemoteAddr: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) bench",
	}
	for b.Loop() {
		if err := db.AppendAudit(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
}
