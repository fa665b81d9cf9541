package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Kinds of per-user budgets.
const (
	// BudgetSeamCalls counts the Seam calls a customer's requests make.
	BudgetSeamCalls = "seam_call"
	// BudgetWebviews counts the Connect Webviews a customer creates.
	BudgetWebviews = "webview"
)

// Spend takes one unit of the user's budget of kind in the fixed window (of the given
// length) that holds now, unless limit units were already spent there. It reports
// whether it did and when the window ends. One upsert decides, so every instance
// shares the budget; the user's rows of past windows go on the way.
func (db *DB) Spend(ctx context.Context, userID, kind string, now time.Time, window time.Duration, limit int) (bool, time.Time, error) {
	if userID == "" || kind == "" || window <= 0 || limit <= 0 {
		return false, time.Time{}, errors.New("spend: user, kind, window and limit are required")
	}
	start := now.UTC().Truncate(window)
	var spent bool
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM usage_counters WHERE user_id = $1 AND kind = $2 AND window_start < $3`,
			userID, kind, formatTime(start)); err != nil {
			return err
		}
		var used int
		err := tx.QueryRowContext(ctx, `
INSERT INTO usage_counters (user_id, kind, window_start, used) VALUES ($1, $2, $3, 1)
ON CONFLICT (user_id, kind, window_start) DO UPDATE SET used = usage_counters.used + 1
WHERE usage_counters.used < $4
RETURNING used`, userID, kind, formatTime(start), limit).Scan(&used)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil
		case err != nil:
			return err
		}
		spent = true
		return nil
	})
	if err != nil {
		return false, time.Time{}, fmt.Errorf("spend %s budget: %w", kind, err)
	}
	return spent, start.Add(window), nil
}

// AppendAuditOnce appends e unless its actor already has an event of the same action
// at or after since, and reports whether it wrote: repeated refusals of one kind are
// audited once a window, so nobody can flood the trail. Events without an actor are
// always written.
func (db *DB) AppendAuditOnce(ctx context.Context, e AuditEvent, since time.Time) (bool, error) {
	if e.ActorID == "" {
		return true, db.AppendAudit(ctx, e)
	}
	var wrote bool
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.lockKey(ctx, tx, "refusal:"+e.ActorID+":"+e.Action); err != nil {
			return err
		}
		var seen bool
		if err := tx.QueryRowContext(ctx, `
SELECT EXISTS (SELECT 1 FROM audit_events WHERE actor_id = $1 AND action = $2 AND at >= $3)`,
			clean(e.ActorID, maxIDBytes), clean(e.Action, maxActionBytes), formatTime(since)).Scan(&seen); err != nil {
			return err
		}
		if seen {
			return nil
		}
		wrote = true
		return db.appendAudit(ctx, tx, e)
	})
	if err != nil {
		return false, fmt.Errorf("append audit once: %w", err)
	}
	return wrote, nil
}

// ProbeWrite proves the database takes writes by rewriting one row; it backs /readyz.
func (db *DB) ProbeWrite(ctx context.Context, now time.Time) error {
	if _, err := db.sql.ExecContext(ctx, `
INSERT INTO readiness (id, checked_at) VALUES (1, $1)
ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`, formatTime(now)); err != nil {
		return fmt.Errorf("write probe: %w", err)
	}
	return nil
}
