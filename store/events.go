package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SeamEvent is one of Seam's events in Latchkey's inbox.
type SeamEvent struct {
	ID                 string // Seam's event_id
	DeliveryID         string // svix-id of the webhook delivery, if it came that way
	Type               string
	DeviceID           string
	ConnectedAccountID string
	Payload            []byte // the event as Seam sent it
	CreatedAt          time.Time
	ReceivedAt         time.Time
}

const eventColumns = `id, delivery_id, event_type, device_id, connected_account_id, payload, created_at, received_at`

// StoreEvent puts an event in the inbox and reports whether it is new: one already
// stored (the same event_id, or the same webhook delivery) is not stored again.
func (db *DB) StoreEvent(ctx context.Context, e SeamEvent) (bool, error) {
	if e.ID == "" || e.Type == "" {
		return false, errors.New("store event: event id and type are required")
	}
	res, err := db.sql.ExecContext(ctx, `
INSERT INTO seam_events (`+eventColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT DO NOTHING`,
		e.ID, nullString(e.DeliveryID), e.Type, nullString(e.DeviceID), nullString(e.ConnectedAccountID),
		string(e.Payload), formatTime(nowOr(e.CreatedAt)), formatTime(nowOr(e.ReceivedAt)))
	if err != nil {
		return false, fmt.Errorf("store event %s: %w", e.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store event %s: %w", e.ID, err)
	}
	return n == 1, nil
}

// UnprocessedEvents returns up to limit stored events not applied yet, in Seam's order.
func (db *DB) UnprocessedEvents(ctx context.Context, limit int) ([]SeamEvent, error) {
	rows, err := db.sql.QueryContext(ctx, `
SELECT `+eventColumns+` FROM seam_events WHERE processed_at IS NULL ORDER BY created_at, id LIMIT $1`, limit)
	return collect("unprocessed events", rows, err, scanEvent)
}

// ApplyEvent marks the event applied and, in the same transaction, runs apply on the
// copy of the event's device (when the copy holds it; apply gets ok=false otherwise).
// Only the first caller applies it: it reports whether this call did.
func (db *DB) ApplyEvent(ctx context.Context, eventID, deviceID string, now time.Time, apply func(d DeviceCopy, ok bool) ([]byte, time.Time, error)) (bool, error) {
	var applied bool
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE seam_events SET processed_at = $2 WHERE id = $1 AND processed_at IS NULL`,
			eventID, formatTime(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		applied = true
		if deviceID == "" {
			_, _, err := apply(DeviceCopy{}, false)
			return err
		}
		err = updateDevice(ctx, db, tx, deviceID, func(d DeviceCopy) ([]byte, time.Time, error) { return apply(d, true) })
		if errors.Is(err, ErrNotFound) {
			_, _, err = apply(DeviceCopy{}, false)
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("apply event %s: %w", eventID, err)
	}
	return applied, nil
}

// TakeLease gives holder the named lease until the given time, if it is free, has
// passed at now, or is holder's already; it returns the cursor kept with it. One
// statement decides, so at most one instance holds it.
func (db *DB) TakeLease(ctx context.Context, name, holder string, now, until time.Time) (string, bool, error) {
	var cursor string
	err := db.sql.QueryRowContext(ctx, `
INSERT INTO leases (name, holder, held_until) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, held_until = excluded.held_until
WHERE leases.held_until <= $4 OR leases.holder = excluded.holder
RETURNING position`, name, holder, formatTime(until), formatTime(now)).Scan(&cursor)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("take lease %s: %w", name, err)
	}
	return cursor, true, nil
}

// SetLeaseCursor keeps cursor with the lease, if holder still holds it.
func (db *DB) SetLeaseCursor(ctx context.Context, name, holder, cursor string) error {
	if _, err := db.sql.ExecContext(ctx, `UPDATE leases SET position = $3 WHERE name = $1 AND holder = $2`, name, holder, cursor); err != nil {
		return fmt.Errorf("set lease cursor %s: %w", name, err)
	}
	return nil
}

// ReleaseLease gives the lease up, if holder holds it.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string, now time.Time) error {
	if _, err := db.sql.ExecContext(ctx, `UPDATE leases SET held_until = $3 WHERE name = $1 AND holder = $2`, name, holder, formatTime(now)); err != nil {
		return fmt.Errorf("release lease %s: %w", name, err)
	}
	return nil
}

// DeviceEvents returns the newest stored events of the given types for a device, at
// most limit, newest first: the device page's history without asking Seam.
func (db *DB) DeviceEvents(ctx context.Context, deviceID string, types []string, limit int) ([]SeamEvent, error) {
	args := []any{deviceID, limit}
	where := ""
	if len(types) > 0 {
		ph := make([]string, len(types))
		for i, t := range types {
			args = append(args, t)
			ph[i] = fmt.Sprintf("$%d", len(args))
		}
		where = " AND event_type IN (" + strings.Join(ph, ", ") + ")"
	}
	rows, err := db.sql.QueryContext(ctx, `
SELECT `+eventColumns+` FROM seam_events WHERE device_id = $1`+where+` ORDER BY created_at DESC, id DESC LIMIT $2`, args...)
	return collect("device events", rows, err, scanEvent)
}

func scanEvent(s scanner) (SeamEvent, error) {
	var e SeamEvent
	var delivery, device, account sql.NullString
	var payload, created, received string
	if err := s.Scan(&e.ID, &delivery, &e.Type, &device, &account, &payload, &created, &received); err != nil {
		return SeamEvent{}, err
	}
	e.DeliveryID, e.DeviceID, e.ConnectedAccountID, e.Payload = delivery.String, device.String, account.String, []byte(payload)
	var err error
	if e.CreatedAt, err = parseTime(created); err != nil {
		return SeamEvent{}, err
	}
	if e.ReceivedAt, err = parseTime(received); err != nil {
		return SeamEvent{}, err
	}
	return e, nil
}
