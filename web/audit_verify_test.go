package web_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testing/pgtest"
	"github.com/latchkey/latchkey/store"
)

// runVerify runs `latchkey audit verify` as its own process with only DATABASE_URL
// set, and returns its output and exit status.
func runVerify(t *testing.T, databaseURL string, args ...string) (string, int) {
	t.Helper()
	bin, err := latchkeyBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"audit", "verify"}, args...)...)
	cmd.Env = []string{"DATABASE_URL=" + databaseURL, "PATH=" + os.Getenv("PATH")}
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("run latchkey audit verify: %v", err)
	return "", 0
}

func TestAuditVerifyCommand(t *testing.T) { pgtest.EachDialect(t, testAuditVerifyCommand) }

func testAuditVerifyCommand(t *testing.T) {
	ctx := context.Background()
	url := "sqlite:" + filepath.Join(t.TempDir(), "latchkey.db")
	if pgtest.Postgres(t) {
		url = pgtest.URL(t)
		if err := store.Migrate(ctx, url); err != nil {
			t.Fatal(err)
		}
	}
	db, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, d := range []string{"one", "two", "three"} {
		if err := db.AppendAudit(ctx, store.AuditEvent{Action: store.AuditLogin, Outcome: store.OutcomeSuccess, Detail: d}); err != nil {
			t.Fatal(err)
		}
	}
	out, code := runVerify(t, url)
	head := regexp.MustCompile(`(?m)^head: (v1:[0-9a-f]{64})$`).FindStringSubmatch(out)
	if code != 0 || !strings.Contains(out, "rows: 3\n") || head == nil || !strings.Contains(out, "intact") {
		t.Fatalf("intact trail: exit %d\n%s", code, out)
	}
	if out, code := runVerify(t, url, "--head", head[1]); code != 0 {
		t.Fatalf("with its own head: exit %d\n%s", code, out)
	}
	// A head mistyped or cut short when kept is no evidence of removed rows: it cannot
	// be checked against (2), and the output says so.
	for _, bad := range []string{"typo", head[1][:20], strings.ToUpper(head[1]), head[1] + "0"} {
		if out, code := runVerify(t, url, "--head", bad); code != 2 || !strings.Contains(out, "--head") || strings.Contains(out, "removed") {
			t.Errorf("--head %q: exit %d, want 2 naming --head\n%s", bad, code, out)
		}
	}

	trigger := `DROP TRIGGER audit_events_no_update`
	if pgtest.Postgres(t) {
		trigger += ` ON audit_events`
	}
	if _, err := db.SQL().ExecContext(ctx, trigger); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, `UPDATE audit_events SET detail = 'zwei' WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	if out, code := runVerify(t, url); code != 1 || !strings.Contains(out, "audit row 2 ") {
		t.Errorf("edited row 2: exit %d, want 1 naming row 2\n%s", code, out)
	}
}

func TestAuditVerifyCommandCannotCheck(t *testing.T) {
	for _, url := range []string{"sqlite:" + filepath.Join(t.TempDir(), "absent.db"), "nosuch://db"} {
		if out, code := runVerify(t, url); code != 2 || !strings.Contains(out, "cannot check") {
			t.Errorf("DATABASE_URL=%s: exit %d, want 2\n%s", url, code, out)
		}
	}
	if out, code := runVerify(t, emptySQLiteURL(t)); code != 2 {
		t.Errorf("a database before the chain: exit %d, want 2\n%s", code, out)
	}
}

// emptySQLiteURL is an empty SQLite file: a database that was never migrated.
func emptySQLiteURL(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "empty.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return "sqlite:" + path
}
