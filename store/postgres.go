package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Pool and statement defaults for PostgreSQL; the URL may override both
// (pool_max_conns=N, statement_timeout=MILLISECONDS). TLS is the URL's sslmode and
// friends, as libpq spells them.
const (
	defaultPostgresPool      = 10
	defaultStatementTimeout  = 15 * time.Second
	postgresConnMaxIdleTime  = 5 * time.Minute
	postgresConnMaxLifetime  = time.Hour
	maxPostgresPoolSize      = 1000
	postgresPoolSizeParam    = "pool_max_conns"
	postgresStatementTimeout = "statement_timeout"
)

// isPostgresURL reports whether databaseURL names PostgreSQL.
func isPostgresURL(databaseURL string) bool {
	return strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://")
}

// openPostgres connects through pgx. The URL is never echoed in errors: it may hold a
// password.
func openPostgres(ctx context.Context, databaseURL string) (*DB, error) {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return nil, errors.New("DATABASE_URL: not a valid postgres:// URL")
	}
	q := u.Query()
	pool := defaultPostgresPool
	if v := q.Get(postgresPoolSizeParam); v != "" {
		if pool, err = strconv.Atoi(v); err != nil || pool < 1 || pool > maxPostgresPoolSize {
			return nil, fmt.Errorf("DATABASE_URL: %s must be a whole number from 1 to %d", postgresPoolSizeParam, maxPostgresPoolSize)
		}
		q.Del(postgresPoolSizeParam)
	}
	if q.Get(postgresStatementTimeout) == "" {
		q.Set(postgresStatementTimeout, strconv.Itoa(int(defaultStatementTimeout.Milliseconds())))
	}
	u.RawQuery = q.Encode()
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, errors.New("DATABASE_URL: the postgres:// URL could not be read (check its host, port, user and parameters)")
	}
	sqlDB := stdlib.OpenDB(*cfg)
	sqlDB.SetMaxOpenConns(pool)
	sqlDB.SetMaxIdleConns(pool)
	sqlDB.SetConnMaxIdleTime(postgresConnMaxIdleTime)
	sqlDB.SetConnMaxLifetime(postgresConnMaxLifetime)
	db := &DB{sql: sqlDB, dialect: postgresDialect, pgConfig: cfg}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.Ping(pctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	return db, nil
}

// lockKey takes a PostgreSQL advisory lock for the rest of the transaction on key,
// serialising what several instances do for one user; SQLite's immediate transaction
// already holds the database's one write lock, so there it does nothing.
func (db *DB) lockKey(ctx context.Context, tx *sql.Tx, key string) error {
	if db.dialect != postgresDialect {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, key); err != nil {
		return fmt.Errorf("advisory lock: %w", err)
	}
	return nil
}
