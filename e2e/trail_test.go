package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/latchkey/latchkey/internal/testing/testportal"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/views"
)

// TestTrailInTheirTimeZone: a browser in Kolkata signs in; its script reports the zone
// once, and the activity trail then shows times in Kolkata (the UTC instant in
// <time datetime>), one entry per action with its outcome in words.
func TestTrailInTheirTimeZone(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	const zone = "Asia/Kolkata"
	p := testportal.Start(t, testportal.Options{})
	alice := startBrowser(t, ctx, p.URL, newShots(t))
	func() {
		ctx, cancel := context.WithTimeout(alice.ctx, stepTimeout)
		defer cancel()
		if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone}); err != nil {
			t.Fatalf("time zone override: %v", err)
		}
	}()

	// The script reports the zone by itself and the page reloads in it (before the
	// step's screenshot, which a reload would interrupt).
	alice.signIn(t, "alice", "Alice Anders", func(ctx context.Context) error {
		return waitFor(ctx, "the page in her zone", func(ctx context.Context) (bool, error) {
			z, err := eval[string](ctx, `document.readyState === "complete" ? (document.body.getAttribute("data-time-zone") || "") : ""`)
			return z != "", err
		})
	})
	id := userID(t, p, "alice@example.com")

	// Chromium may name Kolkata by its older alias, Asia/Calcutta.
	u, err := p.DB.UserByID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	stored := u.TimeZone
	if stored != zone && stored != "Asia/Calcutta" {
		t.Fatalf("the browser reported %q, want %s", stored, zone)
	}

	// An unlock that failed, as locks records it.
	device := uuid.NewString()
	a, err := p.DB.BeginAction(t.Context(), store.NewAction{
		Attempt: store.ActionAttempt{ID: uuid.NewString(), UserID: id, DeviceID: device, DeviceName: "Verandah Door",
			Action: store.ActionUnlock, CreatedAt: time.Now()},
		Limit: 100, Window: time.Minute,
		Audit: store.AuditEvent{ActorID: id, SubjectUserID: id, Action: store.AuditDeviceUnlockRequested, DeviceID: device,
			DeviceName: "Verandah Door", Outcome: store.OutcomeSuccess},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.DB.TransitionAction(t.Context(), store.Transition{ID: a.ID, From: []string{store.AttemptRequested},
		To: store.AttemptError, Error: "device_offline", At: time.Now(), Audit: store.AuditEvent{ActorID: id, SubjectUserID: id,
			Action: store.AuditDeviceUnlockFailed, DeviceID: device, Outcome: store.OutcomeFailure, Detail: "device_offline"}}); err != nil {
		t.Fatal(err)
	}

	alice.step(t, "alice-activity-in-kolkata", func(ctx context.Context) error {
		if err := navigate(ctx, alice.base.String()+"/activity"); err != nil {
			return err
		}
		if err := waitText(ctx, "main", "Times are in "+stored+"."); err != nil {
			return err
		}
		rows, err := eval[[]string](ctx, `Array.from(document.querySelectorAll("main tbody tr")).map(function (tr) {
			var t = tr.querySelector("time");
			return t.getAttribute("datetime") + "|" + t.innerText + "|" + tr.innerText;
		})`)
		if err != nil {
			return err
		}
		if len(rows) < 2 {
			return fmt.Errorf("activity rows %q: want the sign-in and the unlock", rows)
		}
		actions := 0
		for _, r := range rows {
			parts := strings.SplitN(r, "|", 3)
			at, err := time.Parse(time.RFC3339, parts[0])
			if err != nil || !strings.HasSuffix(parts[0], "Z") {
				return fmt.Errorf("datetime %q is not a UTC instant", parts[0])
			}
			// 24 or 12 hours, as the browser's language asks; in Kolkata either way.
			if parts[1] != views.NewClock(zone, "").DateTime(at) && parts[1] != views.NewClock(zone, "en-US").DateTime(at) {
				return fmt.Errorf("time %q for %s is not Kolkata's (%s)", parts[1], parts[0], views.NewClock(zone, "").DateTime(at))
			}
			if strings.Contains(parts[2], "Unlock") {
				actions++
				if !strings.Contains(parts[2], "Unlock requested") || !strings.Contains(parts[2], "Failed") ||
					!strings.Contains(parts[2], "The lock was offline.") || !strings.Contains(parts[2], "Verandah Door") {
					return fmt.Errorf("the unlock's entry reads %q", parts[2])
				}
			}
		}
		if actions != 1 {
			return fmt.Errorf("%d entries for one unlock: %q", actions, rows)
		}
		return nil
	})
}
