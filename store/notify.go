package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// changesChannel is the PostgreSQL channel live-page changes travel on (ids only).
const changesChannel = "latchkey_changes"

// Shared reports whether several instances may share this database (PostgreSQL), so
// live-page changes must travel through it.
func (db *DB) Shared() bool { return db.dialect == postgresDialect }

// Notify sends a change to every instance listening, this one included (PostgreSQL
// NOTIFY; the payload carries ids only).
func (db *DB) Notify(ctx context.Context, payload string) error {
	if db.dialect != postgresDialect {
		return errors.New("notify: only PostgreSQL relays changes")
	}
	if _, err := db.sql.ExecContext(ctx, `SELECT pg_notify($1, $2)`, changesChannel, payload); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// Listen hands every change notified on the database to deliver until ctx ends. A
// lost connection is reconnected (with backoff) and resync called: changes may have
// been missed meanwhile.
func (db *DB) Listen(ctx context.Context, deliver func(payload string), resync func()) {
	if db.dialect != postgresDialect || db.pgConfig == nil {
		return
	}
	backoff := 100 * time.Millisecond
	for first := true; ctx.Err() == nil; first = false {
		err := db.listenOnce(ctx, deliver, func() {
			backoff = 100 * time.Millisecond
			if !first {
				resync()
			}
		})
		if ctx.Err() != nil {
			return
		}
		_ = err // the caller learns of outages through /readyz; retry quietly
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (db *DB) listenOnce(ctx context.Context, deliver func(string), listening func()) error {
	conn, err := pgx.ConnectConfig(ctx, db.pgConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		return err
	}
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		deliver(n.Payload)
	}
}
