package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Each dialect has its own numbered migrations. Every migration must keep the previous
// release working on the migrated database (add, never drop, rename or retype what it
// uses), so that on PostgreSQL `latchkey migrate` can run before instances are
// restarted one by one, and an instance accepts a database newer than itself.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// migration is one numbered schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations reads the embedded migrations of a dialect ("sqlite" or
// "postgres"), ordered by version.
func loadMigrations(fsys fs.FS, dialect string) ([]migration, error) {
	paths, err := fs.Glob(fsys, "migrations/"+dialect+"/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var ms []migration
	seen := map[int]string{}
	for _, p := range paths {
		base := path.Base(p)
		num, _, ok := strings.Cut(strings.TrimSuffix(base, ".sql"), "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNN_name.sql", base)
		}
		if other, dup := seen[version]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, base, version)
		}
		seen[version] = base
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", base, err)
		}
		ms = append(ms, migration{version: version, name: base, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// schemaMigrationsDDL creates the table that lists applied migrations.
var schemaMigrationsDDL = map[dialect]string{
	sqliteDialect: `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
)`,
	postgresDialect: `CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL
)`,
}

// migrateLockKey is the PostgreSQL advisory lock `latchkey migrate` holds, so two
// migrations never run at once.
const migrateLockKey = 0x4c4b4d49 // "LKMI"

// migrate applies, in order and each in its own transaction, the embedded migrations
// of the dialect that schema_migrations does not list yet. On SQLite the check runs
// inside the (immediate, so exclusive) transaction; on PostgreSQL the whole run holds
// an advisory lock. Either way two processes migrating at once apply each migration
// once.
func migrate(ctx context.Context, db *sql.DB, d dialect) error {
	ms, err := loadMigrations(migrationFiles, d.String())
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close()
	if d == postgresDialect {
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrateLockKey); err != nil {
			return fmt.Errorf("migrate: take the migration lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLockKey)
	}
	if _, err := conn.ExecContext(ctx, schemaMigrationsDDL[d]); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, m := range ms {
		if err := applyMigration(ctx, conn, m); err != nil {
			return err
		}
	}
	return nil
}

func applyMigration(ctx context.Context, conn *sql.Conn, m migration) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: begin: %w", m.name, err)
	}
	defer tx.Rollback()
	var applied bool
	if err := tx.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.version,
	).Scan(&applied); err != nil {
		return fmt.Errorf("migration %s: check: %w", m.name, err)
	}
	if applied {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("migration %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
		m.version, m.name, formatTime(time.Now()),
	); err != nil {
		return fmt.Errorf("migration %s: record: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %s: commit: %w", m.name, err)
	}
	return nil
}

// ErrSchemaTooOld says the database lacks migrations this binary needs.
var ErrSchemaTooOld = errors.New("database schema is older than this Latchkey needs")

// checkSchema refuses a database older than the embedded migrations of the dialect;
// a newer one is accepted (migrations stay compatible with the previous release).
func checkSchema(ctx context.Context, db *sql.DB, d dialect) (int, error) {
	ms, err := loadMigrations(migrationFiles, d.String())
	if err != nil {
		return 0, err
	}
	want := ms[len(ms)-1].version
	var have int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&have); err != nil {
		return 0, fmt.Errorf("%w: no schema_migrations table (run `latchkey migrate` with the owner role first): %w", ErrSchemaTooOld, err)
	}
	if have < want {
		return have, fmt.Errorf("%w: it is at version %d, this Latchkey needs %d: run `latchkey migrate` with the owner role", ErrSchemaTooOld, have, want)
	}
	return have, nil
}
