// Package pgtest gives tests a throwaway PostgreSQL: one cluster per test package,
// started from the installed server binaries (Debian's postgresql package) the first
// time a test asks for it, and one fresh, empty database per test.
//
// A package that uses it declares
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// and its tests call URL or OwnerAndAppURLs. The cluster runs with fsync off under a
// directory /tmp/lkpg-XXXXXX, listens on 127.0.0.1 on a free port with trust
// authentication, and is stopped and removed when the package's tests end. When the
// process runs as root the server runs as the "postgres" OS user (PostgreSQL refuses to
// run as root); otherwise it runs as the current user.
//
// The environment variable LATCHKEY_TEST_POSTGRES decides what happens when no server
// can be started: unset, the tests that need one are skipped with the reason; "require"
// makes them fail instead (CI sets it); "off" skips them without trying.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvVar is the environment variable that says whether PostgreSQL tests must run:
// "require" (fail when no server can be started), "off" (skip them), or unset (skip
// them, with the reason, when no server can be started).
const EnvVar = "LATCHKEY_TEST_POSTGRES"

const (
	startTimeout = 2 * time.Minute
	adminTimeout = time.Minute
	superuser    = "postgres"
)

var (
	mainCalled atomic.Bool
	seq        atomic.Uint64

	startOnce sync.Once
	theServer *server
	startErr  error
)

// Main runs the package's tests and then stops and removes the PostgreSQL cluster if a
// test started one; it ends the process with the tests' exit code. Use it as
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// The cluster is started lazily, by the first call to URL or OwnerAndAppURLs, so a run
// that selects no PostgreSQL test (or sets LATCHKEY_TEST_POSTGRES=off) starts nothing.
func Main(m *testing.M) {
	mainCalled.Store(true)
	code := m.Run()
	startOnce.Do(func() {}) // from here on no test can start one; also orders the read below
	if theServer != nil {
		if err := theServer.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		}
	}
	os.Exit(code)
}

// URL creates a new, empty database on the package's cluster and returns a
// postgres:// URL for it, connecting over TCP to 127.0.0.1 as the superuser "postgres",
// which owns the database. The database is dropped (with FORCE, closing connections
// still open) when the test ends. Without a usable PostgreSQL the test is skipped, or
// fails when LATCHKEY_TEST_POSTGRES=require.
func URL(t testing.TB) string {
	t.Helper()
	s := need(t)
	db := newName("db", t)
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := s.exec(ctx, "postgres", "CREATE DATABASE "+ident(db)); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() { s.drop(t, db) })
	return s.url(superuser, db)
}

// OwnerAndAppURLs creates a new, empty database owned by a new login role and a second
// login role for the application, and returns a URL for each (TCP to 127.0.0.1). The
// owner role owns the database and its public schema: run migrations with it. The app
// role may only CONNECT, use schema public and, through default privileges the owner
// grants, SELECT, INSERT, UPDATE and DELETE on the owner's tables and USAGE, SELECT on
// its sequences; it cannot CREATE in the database or the schema, nor create temporary
// tables. Neither role is a superuser or may create databases or roles. Database and
// roles are dropped when the test ends. Without a usable PostgreSQL the test is skipped,
// or fails when LATCHKEY_TEST_POSTGRES=require.
func OwnerAndAppURLs(t testing.TB) (owner, app string) {
	t.Helper()
	s := need(t)
	db := newName("db", t)
	n := seq.Add(1)
	ownerRole := fmt.Sprintf("owner_%d", n)
	appRole := fmt.Sprintf("app_%d", n)
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()

	for _, r := range []string{ownerRole, appRole} {
		if err := s.exec(ctx, "postgres", "CREATE ROLE "+ident(r)+" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"); err != nil {
			t.Fatalf("pgtest: create role %s: %v", r, err)
		}
	}
	// Registered before the database's cleanup so it runs after it: roles go last.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		for _, r := range []string{appRole, ownerRole} {
			if err := s.exec(ctx, "postgres", "DROP ROLE IF EXISTS "+ident(r)); err != nil {
				t.Logf("pgtest: drop role %s: %v", r, err)
			}
		}
	})
	if err := s.exec(ctx, "postgres", "CREATE DATABASE "+ident(db)+" OWNER "+ident(ownerRole)); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() { s.drop(t, db) })

	// Run as the superuser inside the new database.
	setup := []string{
		"REVOKE ALL ON DATABASE " + ident(db) + " FROM PUBLIC",
		"GRANT CONNECT ON DATABASE " + ident(db) + " TO " + ident(appRole),
		// PostgreSQL 15 makes pg_database_owner own schema public and gives PUBLIC only
		// USAGE; older versions give PUBLIC CREATE. Same outcome on both.
		"ALTER SCHEMA public OWNER TO " + ident(ownerRole),
		"REVOKE ALL ON SCHEMA public FROM PUBLIC",
		"GRANT USAGE ON SCHEMA public TO " + ident(appRole),
		"ALTER DEFAULT PRIVILEGES FOR ROLE " + ident(ownerRole) + " IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO " + ident(appRole),
		"ALTER DEFAULT PRIVILEGES FOR ROLE " + ident(ownerRole) + " IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO " + ident(appRole),
	}
	if err := s.execIn(ctx, db, setup...); err != nil {
		t.Fatalf("pgtest: grant privileges: %v", err)
	}
	return s.url(ownerRole, db), s.url(appRole, db)
}

// need returns the running server or ends the test: skipped, or failed when
// LATCHKEY_TEST_POSTGRES=require or the package has no TestMain calling Main.
func need(t testing.TB) *server {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatalf("pgtest: the test package must stop the cluster it starts: add func TestMain(m *testing.M) { pgtest.Main(m) }")
	}
	mode := os.Getenv(EnvVar)
	switch mode {
	case "", "require":
	case "off":
		t.Skipf("PostgreSQL tests disabled by %s=off", EnvVar)
	default:
		t.Fatalf("pgtest: %s=%q: want require, off or unset", EnvVar, mode)
	}
	startOnce.Do(func() { theServer, startErr = start() })
	if startErr != nil {
		if mode == "require" {
			t.Fatalf("PostgreSQL not available (%s=require): %v", EnvVar, startErr)
		}
		t.Skipf("PostgreSQL not available: %v; set %s=require to make this an error", startErr, EnvVar)
	}
	return theServer
}

// newName is a unique database name that shows which test made it.
func newName(prefix string, t testing.TB) string {
	var b strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := fmt.Sprintf("%s%d_%s", prefix, seq.Add(1), b.String())
	if len(name) > 63 { // NAMEDATALEN-1
		name = name[:63]
	}
	return name
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// server is one running cluster.
type server struct {
	dir   string // holds data/, log and the Unix socket
	bin   string // directory of initdb, pg_ctl, postgres
	port  int
	cred  *syscall.Credential // nil: run as the current user
	admin sync.Mutex          // serialises CREATE/DROP DATABASE and role changes
}

func (s *server) url(role, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(role),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// exec runs statements, one at a time, as the superuser connected to database db.
func (s *server) exec(ctx context.Context, db string, stmts ...string) error {
	s.admin.Lock()
	defer s.admin.Unlock()
	return s.execIn(ctx, db, stmts...)
}

func (s *server) execIn(ctx context.Context, db string, stmts ...string) error {
	conn, err := pgx.Connect(ctx, s.url(superuser, db))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, q := range stmts {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

func (s *server) drop(t testing.TB, db string) {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := s.exec(ctx, "postgres", "DROP DATABASE IF EXISTS "+ident(db)+" WITH (FORCE)"); err != nil {
		t.Logf("pgtest: drop database %s: %v", db, err)
	}
}

// start initialises and starts a cluster; on failure it leaves nothing behind.
func start() (*server, error) {
	bin, err := findBinDir()
	if err != nil {
		return nil, err
	}
	s := &server{bin: bin}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, and PostgreSQL will not: no OS user \"postgres\" to run it as (%v)", err)
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("OS user postgres: %v", err)
		}
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
	}

	// The Unix socket lives in dir and its path is limited to ~107 bytes, and pg_ctl's
	// -o goes through a shell: fall back to /tmp for a long or odd TMPDIR.
	base := os.TempDir()
	if len(base) > 60 || strings.ContainsAny(base, " \t\n'\"\\$`;&|<>()*?[]#~") {
		base = "/tmp"
	}
	s.dir, err = os.MkdirTemp(base, "lkpg-")
	if err != nil {
		return nil, fmt.Errorf("directory for the cluster: %w", err)
	}
	if s.cred != nil {
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			os.RemoveAll(s.dir)
			return nil, err
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	fail := func(err error) (*server, error) {
		_ = s.pgctl(context.Background(), "-m", "immediate", "stop") // if it got that far
		os.RemoveAll(s.dir)
		return nil, err
	}
	if out, err := s.run(ctx, "initdb", "-D", s.data(), "-A", "trust", "-U", superuser,
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"); err != nil {
		return fail(fmt.Errorf("initdb: %v: %s", err, bytes.TrimSpace(out)))
	}

	// Another process may take the free port before the server binds it: try again.
	for attempt := 1; ; attempt++ {
		s.port, err = freePort()
		if err != nil {
			return fail(err)
		}
		logStart := fileSize(s.logFile())
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off "+
			"-c synchronous_commit=off -c full_page_writes=off -c max_connections=200", s.port, s.dir)
		err = s.pgctl(ctx, "-o", opts, "-w", "-t", "90", "-l", s.logFile(), "start")
		if err == nil {
			break
		}
		log := readFrom(s.logFile(), logStart)
		if attempt < 3 && strings.Contains(log, "already in use") {
			continue
		}
		return fail(fmt.Errorf("%v\nserver log:\n%s", err, lastLines(log, 20)))
	}
	if err := s.exec(ctx, "postgres", "SELECT 1"); err != nil {
		return fail(fmt.Errorf("connect to the new server: %v\nserver log:\n%s",
			err, lastLines(readFrom(s.logFile(), 0), 20)))
	}
	return s, nil
}

// stop stops the server at once (its data is thrown away) and removes its directory.
func (s *server) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	err := s.pgctl(ctx, "-m", "immediate", "-w", "stop")
	if rmErr := os.RemoveAll(s.dir); rmErr != nil {
		err = errors.Join(err, rmErr)
	}
	return err
}

func (s *server) data() string    { return filepath.Join(s.dir, "data") }
func (s *server) logFile() string { return filepath.Join(s.dir, "log") }

func (s *server) pgctl(ctx context.Context, args ...string) error {
	out, err := s.run(ctx, "pg_ctl", append([]string{"-D", s.data()}, args...)...)
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %v: %s", args[len(args)-1], err, bytes.TrimSpace(out))
	}
	return nil
}

// run runs one of the server's programs in s.dir as the server's OS user. pg_ctl is
// always given -l, so the server it starts does not hold on to the output pipe.
func (s *server) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, prog), args...)
	cmd.Dir = s.dir
	cmd.Env = childEnv(s.dir)
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd.CombinedOutput()
}

// childEnv is the environment without PG* variables (PGDATA, PGPORT… would override
// the command line) and with a C locale and a HOME the server's user may read.
func childEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "PG") || strings.HasPrefix(k, "LC_") || k == "LANG" || k == "LANGUAGE" || k == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C", "LANG=C", "HOME="+home)
}

// findBinDir finds the directory holding initdb and pg_ctl: the highest version under
// /usr/lib/postgresql/*/bin (Debian's layout), else `pg_config --bindir`, else PATH.
func findBinDir() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	best, bestVer := "", -1.0
	for _, m := range matches {
		dir := filepath.Dir(m)
		v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		if err != nil || !isExec(filepath.Join(dir, "pg_ctl")) {
			continue
		}
		if v > bestVer {
			best, bestVer = dir, v
		}
	}
	if best != "" {
		return best, nil
	}
	if pgConfig, err := exec.LookPath("pg_config"); err == nil {
		if out, err := exec.Command(pgConfig, "--bindir").Output(); err == nil {
			dir := strings.TrimSpace(string(out))
			if isExec(filepath.Join(dir, "initdb")) && isExec(filepath.Join(dir, "pg_ctl")) {
				return dir, nil
			}
		}
	}
	if initdb, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(initdb)
		if isExec(filepath.Join(dir, "pg_ctl")) {
			return dir, nil
		}
	}
	return "", errors.New("no initdb and pg_ctl found under /usr/lib/postgresql/*/bin, from pg_config or on PATH " +
		"(install Debian's postgresql package: apt-get install postgresql)")
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func readFrom(path string, off int64) string {
	b, err := os.ReadFile(path)
	if err != nil || off > int64(len(b)) {
		return ""
	}
	return string(b[off:])
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// EachDialect runs test twice, as the subtests "sqlite" and "postgres": one contract,
// two databases. Inside, Postgres(t) tells which one to open.
func EachDialect(t *testing.T, test func(t *testing.T)) {
	t.Helper()
	t.Run("sqlite", test)
	t.Run("postgres", test)
}

// Postgres reports whether t runs under EachDialect's "postgres" subtest (or one of
// its own subtests).
func Postgres(t testing.TB) bool {
	return strings.Contains(t.Name()+"/", "/postgres/")
}
