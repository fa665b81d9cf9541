package pgtest_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func mustExec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func count(t *testing.T, conn *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func dbName(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

func TestURL(t *testing.T) {
	t.Parallel()
	dsn := pgtest.URL(t)
	if !strings.HasPrefix(dsn, "postgres://") {
		t.Fatalf("URL = %q, want postgres://…", dsn)
	}
	conn := connect(t, dsn)

	mustExec(t, conn, `CREATE TABLE things (id bigserial PRIMARY KEY, name text NOT NULL)`)
	mustExec(t, conn, `INSERT INTO things (name) VALUES ($1), ($2)`, "door", "gate")
	rows, err := conn.Query(t.Context(), `SELECT name FROM things ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(names, ",") != "door,gate" {
		t.Fatalf("read back %q, want [door gate]", names)
	}

	// A database is fresh and private to its test, and goes away with it.
	var inner string
	t.Run("inner", func(t *testing.T) {
		inner = dbName(t, pgtest.URL(t))
		if inner == dbName(t, dsn) {
			t.Fatalf("two calls gave the same database %q", inner)
		}
		c := connect(t, pgtest.URL(t)) // left open: the drop must still succeed
		if n := count(t, c, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`); n != 0 {
			t.Fatalf("new database has %d tables, want 0", n)
		}
	})
	if n := count(t, conn, `SELECT count(*) FROM pg_database WHERE datname = $1`, inner); n != 0 {
		t.Fatalf("database %q still exists after its test ended", inner)
	}
}

func TestOwnerAndAppURLs(t *testing.T) {
	t.Parallel()
	ownerURL, appURL := pgtest.OwnerAndAppURLs(t)
	if dbName(t, ownerURL) != dbName(t, appURL) {
		t.Fatalf("owner and app URLs name different databases: %s, %s", ownerURL, appURL)
	}
	owner, app := connect(t, ownerURL), connect(t, appURL)

	var ownerRole, appRole, dbOwner string
	if err := owner.QueryRow(t.Context(),
		`SELECT current_user, pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()`).
		Scan(&ownerRole, &dbOwner); err != nil {
		t.Fatal(err)
	}
	if dbOwner != ownerRole {
		t.Fatalf("database owned by %q, want the owner role %q", dbOwner, ownerRole)
	}
	if err := app.QueryRow(t.Context(), `SELECT current_user`).Scan(&appRole); err != nil {
		t.Fatal(err)
	}
	if appRole == ownerRole {
		t.Fatalf("app and owner are the same role %q", appRole)
	}
	for _, role := range []string{ownerRole, appRole} {
		if n := count(t, owner, `SELECT count(*) FROM pg_roles WHERE rolname = $1 AND (rolsuper OR rolcreatedb OR rolcreaterole)`, role); n != 0 {
			t.Fatalf("role %q is a superuser or may create databases or roles", role)
		}
	}

	// Migrations as the owner.
	mustExec(t, owner, `CREATE TABLE locks (id bigserial PRIMARY KEY, name text NOT NULL)`)

	// The app reads and writes, sequence included.
	mustExec(t, app, `INSERT INTO locks (name) VALUES ('front')`)
	mustExec(t, app, `UPDATE locks SET name = 'back' WHERE name = 'front'`)
	if n := count(t, app, `SELECT count(*) FROM locks WHERE name = 'back'`); n != 1 {
		t.Fatalf("app reads %d rows, want 1", n)
	}
	mustExec(t, app, `DELETE FROM locks`)

	// ...but has no DDL rights.
	for _, ddl := range []string{
		`CREATE TABLE evil (id int)`,
		`CREATE SCHEMA evil`,
		`CREATE TEMP TABLE evil (id int)`,
		`DROP TABLE locks`,
		`ALTER TABLE locks ADD COLUMN evil int`,
	} {
		_, err := app.Exec(t.Context(), ddl)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("app role: %s: err = %v, want insufficient_privilege (42501)", ddl, err)
		}
	}

	// The roles go away with the test: checked from a sibling that outlives them.
	var roles []string
	t.Run("inner", func(t *testing.T) {
		o, a := pgtest.OwnerAndAppURLs(t)
		for _, dsn := range []string{o, a} {
			u, _ := url.Parse(dsn)
			roles = append(roles, u.User.Username())
		}
	})
	if n := count(t, owner, `SELECT count(*) FROM pg_roles WHERE rolname = ANY($1)`, roles); n != 0 {
		t.Fatalf("roles %q still exist after their test ended", roles)
	}
}
