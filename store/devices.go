package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DeviceCopy is Latchkey's copy of one customer device: Seam's device object (JSON, as
// the domain packages marshal it) with the events applied since it was read.
type DeviceCopy struct {
	ID                 string // Seam's device_id
	UserID             string // its owner, by Latchkey's ownership record
	ConnectedAccountID string
	Device             []byte
	// StateAt is Seam's time of the newest state applied: older events are not applied
	// over it. SyncedAt is when Latchkey last read the device from Seam.
	StateAt  time.Time
	SyncedAt time.Time
}

const deviceColumns = `id, user_id, connected_account_id, device, state_at, synced_at`

// SyncDevices replaces the copy of the user's devices on the given accounts with what
// Seam just listed: listed devices are written, the user's other devices on those
// accounts deleted. Devices of other users are never touched: a listed device whose id
// another user's copy holds is an ErrConflict.
func (db *DB) SyncDevices(ctx context.Context, userID string, accountIDs []string, devices []DeviceCopy, now time.Time) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.lockKey(ctx, tx, "devices:"+userID); err != nil {
			return err
		}
		keep := map[string]bool{}
		for _, d := range devices {
			if d.UserID != userID {
				return fmt.Errorf("sync devices: device %s is not user %s's", d.ID, userID)
			}
			res, err := tx.ExecContext(ctx, `
INSERT INTO devices (`+deviceColumns+`, revision) VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (id) DO UPDATE SET connected_account_id = excluded.connected_account_id, device = excluded.device,
    state_at = excluded.state_at, synced_at = excluded.synced_at, revision = devices.revision + 1
WHERE devices.user_id = excluded.user_id`,
				// A new row's revision is the time it was written, so a device removed and
				// added again never repeats a revision a page may still hold.
				d.ID, userID, d.ConnectedAccountID, string(d.Device), formatTime(nowOr(d.StateAt)), formatTime(now), time.Now().UnixNano())
			if err != nil {
				return fmt.Errorf("sync device %s: %w", d.ID, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				return fmt.Errorf("sync device %s: held by another user: %w", d.ID, ErrConflict)
			}
			keep[d.ID] = true
		}
		for _, account := range accountIDs {
			rows, err := tx.QueryContext(ctx, `SELECT id FROM devices WHERE user_id = $1 AND connected_account_id = $2`, userID, account)
			if err != nil {
				return err
			}
			var gone []string
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					rows.Close()
					return err
				}
				if !keep[id] {
					gone = append(gone, id)
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, id := range gone {
				if _, err := tx.ExecContext(ctx, `DELETE FROM devices WHERE id = $1 AND user_id = $2`, id, userID); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// UserDevices returns the copy of the user's devices.
func (db *DB) UserDevices(ctx context.Context, userID string) ([]DeviceCopy, error) {
	rows, err := db.queryCached(ctx, `SELECT `+deviceColumns+` FROM devices WHERE user_id = $1 ORDER BY id`, userID)
	return collect("user devices", rows, err, scanDevice)
}

// DeviceRef is a copied device's id and revision (raised on every change), and when it
// was last read from Seam: enough to tell what changed since a page last decoded it.
type DeviceRef struct {
	ID       string
	Revision int64
	SyncedAt time.Time
	// Latest is the user's newest action on the device (UserDeviceListing).
	Latest *ActionAttempt
}

// DeviceListing is what the device list reads, in one query: the user's device refs,
// each with their newest action on it since a time, and how many actions the user
// started since another (their action limit's window), with the oldest of those.
type DeviceListing struct {
	Refs []DeviceRef
	// RecentActions and OldestRecent are only known with at least one ref (the counts
	// ride on the device rows): Counted says so.
	RecentActions int
	OldestRecent  time.Time
	Counted       bool
}

// UserDeviceListing reads the user's device list: one query (one read transaction
// instead of three), bounded by the user's devices however many actions they took.
func (db *DB) UserDeviceListing(ctx context.Context, userID string, latestSince, countSince time.Time) (DeviceListing, error) {
	// The two counting subqueries do not depend on the row: both databases run them once.
	rows, err := db.queryCached(ctx, `
SELECT d.id, d.revision, d.synced_at,
       (SELECT COUNT(*) FROM action_attempts c WHERE c.user_id = $1 AND c.created_at > $3),
       (SELECT MIN(c.created_at) FROM action_attempts c WHERE c.user_id = $1 AND c.created_at > $3),
       `+prefixed("a.", attemptColumns)+`
FROM devices d
LEFT JOIN action_attempts a ON a.id = (
    SELECT l.id FROM action_attempts l
    WHERE l.user_id = d.user_id AND l.device_id = d.id AND l.created_at >= $2
    ORDER BY l.created_at DESC, l.id DESC LIMIT 1)
WHERE d.user_id = $1
ORDER BY d.id`, userID, formatTime(latestSince), formatTime(countSince))
	var l DeviceListing
	var oldest sql.NullString
	// One set of scan targets for every row (reset each time), not one per row.
	var r DeviceRef
	var synced string
	var f attemptFields
	dest := f.dest(append(make([]any, 0, 17), &r.ID, &r.Revision, &synced, &l.RecentActions, &oldest))
	l.Refs, err = collect("user device listing", rows, err, func(s scanner) (DeviceRef, error) {
		r, f = DeviceRef{}, attemptFields{}
		if err := s.Scan(dest...); err != nil {
			return DeviceRef{}, err
		}
		var err error
		if r.SyncedAt, err = parseTime(synced); err != nil {
			return DeviceRef{}, err
		}
		if f.id.Valid {
			a, err := f.attempt()
			if err != nil {
				return DeviceRef{}, err
			}
			r.Latest = &a
		}
		return r, nil
	})
	if err != nil {
		return DeviceListing{}, err
	}
	if len(l.Refs) > 0 {
		l.Counted = true
		if oldest.Valid {
			if l.OldestRecent, err = parseTime(oldest.String); err != nil {
				return DeviceListing{}, err
			}
		}
	}
	return l, nil
}

// prefixed qualifies each name of a comma-separated column list: prefixed("a.", "x, y")
// is "a.x, a.y".
func prefixed(prefix, columns string) string {
	return prefix + strings.ReplaceAll(columns, ", ", ", "+prefix)
}

// UserDeviceRefs returns the refs of the user's copied devices, by id.
func (db *DB) UserDeviceRefs(ctx context.Context, userID string) ([]DeviceRef, error) {
	rows, err := db.queryCached(ctx, `SELECT id, revision, synced_at FROM devices WHERE user_id = $1 ORDER BY id`, userID)
	if err != nil {
		return nil, fmt.Errorf("user device refs: %w", err)
	}
	defer rows.Close()
	var out []DeviceRef
	for rows.Next() {
		var r DeviceRef
		var synced string
		if err := rows.Scan(&r.ID, &r.Revision, &synced); err != nil {
			return nil, fmt.Errorf("user device refs: %w", err)
		}
		if r.SyncedAt, err = parseTime(synced); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// UserDevicesWithRevisions returns the copy of the listed devices of the user, each
// with its revision.
func (db *DB) UserDevicesWithRevisions(ctx context.Context, userID string, ids []string) ([]DeviceCopy, []int64, error) {
	if len(ids) == 0 {
		return nil, nil, nil
	}
	args := []any{userID}
	ph := make([]string, len(ids))
	for i, id := range ids {
		args = append(args, id)
		ph[i] = fmt.Sprintf("$%d", i+2)
	}
	rows, err := db.sql.QueryContext(ctx, `SELECT `+deviceColumns+`, revision FROM devices WHERE user_id = $1 AND id IN (`+strings.Join(ph, ", ")+`) ORDER BY id`, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("user devices: %w", err)
	}
	defer rows.Close()
	var out []DeviceCopy
	var revs []int64
	for rows.Next() {
		var d DeviceCopy
		var device, stateAt, syncedAt string
		var rev int64
		if err := rows.Scan(&d.ID, &d.UserID, &d.ConnectedAccountID, &device, &stateAt, &syncedAt, &rev); err != nil {
			return nil, nil, fmt.Errorf("user devices: %w", err)
		}
		d.Device = []byte(device)
		if d.StateAt, err = parseTime(stateAt); err != nil {
			return nil, nil, err
		}
		if d.SyncedAt, err = parseTime(syncedAt); err != nil {
			return nil, nil, err
		}
		out, revs = append(out, d), append(revs, rev)
	}
	return out, revs, rows.Err()
}

// AccountDevices returns the copy of the devices of one connected account.
func (db *DB) AccountDevices(ctx context.Context, accountID string) ([]DeviceCopy, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT `+deviceColumns+` FROM devices WHERE connected_account_id = $1 ORDER BY id`, accountID)
	return collect("account devices", rows, err, scanDevice)
}

// UserDevice returns the copy of one of the user's devices; another user's device and
// a missing one are the same ErrNotFound.
func (db *DB) UserDevice(ctx context.Context, userID, deviceID string) (DeviceCopy, error) {
	d, err := scanDevice(db.queryRowCached(ctx, `SELECT `+deviceColumns+` FROM devices WHERE id = $1 AND user_id = $2`, deviceID, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return DeviceCopy{}, fmt.Errorf("device %s: %w", deviceID, ErrNotFound)
	}
	if err != nil {
		return DeviceCopy{}, fmt.Errorf("device %s: %w", deviceID, err)
	}
	return d, nil
}

// OldestSync is when the user's least recently synced device was read from Seam, and
// whether the user has any device in the copy.
func (db *DB) OldestSync(ctx context.Context, userID string) (time.Time, bool, error) {
	var oldest sql.NullString
	if err := db.queryRowCached(ctx, `SELECT MIN(synced_at) FROM devices WHERE user_id = $1`, userID).Scan(&oldest); err != nil {
		return time.Time{}, false, fmt.Errorf("oldest sync: %w", err)
	}
	if !oldest.Valid {
		return time.Time{}, false, nil
	}
	t, err := parseTime(oldest.String)
	return t, err == nil, err
}

// UpdateDevice rewrites the copy of a device as change says, in one transaction that
// holds the device (so concurrent events and actions apply one after the other);
// change returns the new device JSON and state time, or nil to leave it. A device not
// in the copy is ErrNotFound.
func (db *DB) UpdateDevice(ctx context.Context, deviceID string, change func(DeviceCopy) ([]byte, time.Time, error)) error {
	return db.inTx(ctx, func(tx *sql.Tx) error {
		return updateDevice(ctx, db, tx, deviceID, change)
	})
}

func updateDevice(ctx context.Context, db *DB, tx *sql.Tx, deviceID string, change func(DeviceCopy) ([]byte, time.Time, error)) error {
	if err := db.lockKey(ctx, tx, "device:"+deviceID); err != nil {
		return err
	}
	d, err := scanDevice(tx.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM devices WHERE id = $1`, deviceID))
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("device %s: %w", deviceID, ErrNotFound)
	}
	if err != nil {
		return err
	}
	b, at, err := change(d)
	if err != nil || b == nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE devices SET device = $2, state_at = $3, revision = revision + 1 WHERE id = $1`, deviceID, string(b), formatTime(at))
	return err
}

// DeleteDevices removes devices from the copy: the listed ids, or every device of the
// connected account when accountID is given.
func (db *DB) DeleteDevices(ctx context.Context, accountID string, deviceIDs ...string) error {
	if accountID != "" {
		if _, err := db.sql.ExecContext(ctx, `DELETE FROM devices WHERE connected_account_id = $1`, accountID); err != nil {
			return fmt.Errorf("delete devices of %s: %w", accountID, err)
		}
	}
	if len(deviceIDs) == 0 {
		return nil
	}
	args := make([]any, len(deviceIDs))
	ph := make([]string, len(deviceIDs))
	for i, id := range deviceIDs {
		args[i], ph[i] = id, fmt.Sprintf("$%d", i+1)
	}
	if _, err := db.sql.ExecContext(ctx, `DELETE FROM devices WHERE id IN (`+strings.Join(ph, ", ")+`)`, args...); err != nil {
		return fmt.Errorf("delete devices: %w", err)
	}
	return nil
}

// AccountOwner is the user whose ownership record holds the connected account.
func (db *DB) AccountOwner(ctx context.Context, accountID string) (string, error) {
	var userID string
	err := db.sql.QueryRowContext(ctx, `SELECT user_id FROM connected_accounts WHERE id = $1`, accountID).Scan(&userID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("connected account %s: %w", accountID, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("connected account %s: %w", accountID, err)
	}
	return userID, nil
}

func scanDevice(s scanner) (DeviceCopy, error) {
	var d DeviceCopy
	var device, stateAt, syncedAt string
	if err := s.Scan(&d.ID, &d.UserID, &d.ConnectedAccountID, &device, &stateAt, &syncedAt); err != nil {
		return DeviceCopy{}, err
	}
	d.Device = []byte(device)
	var err error
	if d.StateAt, err = parseTime(stateAt); err != nil {
		return DeviceCopy{}, err
	}
	if d.SyncedAt, err = parseTime(syncedAt); err != nil {
		return DeviceCopy{}, err
	}
	return d, nil
}
