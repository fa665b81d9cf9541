package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// The audit chain makes the trail tamper-evident. audit_chain lists the audit rows in
// the order they were chained, each entry with a hash over the row's fields and the
// previous entry's hash, so editing, removing or reordering rows breaks a link that
// VerifyAudit finds; removing the newest rows is found against a head hash kept
// elsewhere. The chain is a table of its own, not columns of audit_events, so rows
// written before it existed (or by the previous release, which knows nothing of it)
// are chained later without updating append-only rows.
//
// Entries are appended under one lock, so the chain stays linear: SQLite's immediate
// transaction holds the database's one write lock, PostgreSQL an advisory transaction
// lock taken in the transaction that inserts the row.

// auditChainLockKey is the PostgreSQL advisory lock that appending to the chain holds.
const auditChainLockKey = 0x4c4b4143 // "LKAC"

// chainVersion prefixes every hash; a new encoding gets a new version.
const chainVersion = "v1"

// genesisHash is entry 0's hash, the one the migrations insert: SHA-256 of
// ["latchkey-audit","v1","genesis"].
var genesisHash = chainVersion + ":" + sha256Hex([]byte(`["latchkey-audit","v1","genesis"]`))

// chainBatch is how many unchained rows one query reads while catching up.
const chainBatch = 500

// chainedRow is an audit row as stored, the input of its hash.
type chainedRow struct {
	id                              int64
	at                              string
	actor, subject, device, attempt sql.NullString
	action, outcome, detail, remote string
	userAgent                       string
	deviceName, accountName         sql.NullString
}

// chainedColumns are the columns of audit_events a chainedRow is scanned from.
const chainedColumns = `a.id, a.at, a.actor_id, a.subject_user_id, a.action, a.device_id, a.action_attempt_id,
a.outcome, a.detail, a.remote_addr, a.user_agent, a.device_name, a.account_name`

func (r *chainedRow) dest() []any {
	return []any{&r.id, &r.at, &r.actor, &r.subject, &r.action, &r.device, &r.attempt,
		&r.outcome, &r.detail, &r.remote, &r.userAgent, &r.deviceName, &r.accountName}
}

// entryHash is the hash of the chain entry seq for row r after prevHash: the
// version and the hex SHA-256 of a JSON array with a fixed order of fields (NULL
// stays null, distinct from ""), which is unambiguous however the strings look.
func entryHash(seq int64, prevHash string, r chainedRow) (string, error) {
	at, err := parseTime(r.at)
	if err != nil {
		return "", err
	}
	null := func(s sql.NullString) any {
		if !s.Valid {
			return nil
		}
		return s.String
	}
	b, err := json.Marshal([]any{"latchkey-audit", chainVersion, seq, prevHash, r.id, formatTime(at),
		null(r.actor), null(r.subject), r.action, null(r.device), null(r.attempt), r.outcome, r.detail,
		r.remote, r.userAgent, null(r.deviceName), null(r.accountName)})
	if err != nil {
		return "", err
	}
	return chainVersion + ":" + sha256Hex(b), nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// lockAuditChain takes the chain's lock for the rest of tx (see above).
func (db *DB) lockAuditChain(ctx context.Context, tx *sql.Tx) error {
	if db.dialect != postgresDialect {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(auditChainLockKey)); err != nil {
		return fmt.Errorf("audit chain lock: %w", err)
	}
	return nil
}

// chainPending chains, in id order, the rows newer than the newest chained one: the
// row just inserted, and any the previous release wrote meanwhile. The caller holds
// the chain's lock. With all, it instead chains every row not in the chain yet (a
// previous-release row committed after a newer one was chained): a full scan, which
// `latchkey migrate` runs.
func chainPending(ctx context.Context, tx *sql.Tx, all bool) (int, error) {
	var seq int64
	var head string
	if err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_chain ORDER BY seq DESC LIMIT 1`).Scan(&seq, &head); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, errors.New("audit chain: the genesis entry is missing (run `latchkey migrate`)")
		}
		return 0, fmt.Errorf("audit chain head: %w", err)
	}
	var after sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(row_id) FROM audit_chain`).Scan(&after); err != nil {
		return 0, fmt.Errorf("audit chain head: %w", err)
	}
	query := `SELECT ` + chainedColumns + ` FROM audit_events a WHERE a.id > $1 ORDER BY a.id LIMIT $2`
	if all {
		query = `SELECT ` + chainedColumns + ` FROM audit_events a
WHERE a.id > $1 AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.row_id = a.id) ORDER BY a.id LIMIT $2`
		after = sql.NullInt64{}
	}
	chained := 0
	for {
		// Read a batch, then insert: a transaction runs one statement at a time.
		rows, err := tx.QueryContext(ctx, query, after.Int64, chainBatch)
		batch, err := collect("audit chain: read rows", rows, err, func(s scanner) (chainedRow, error) {
			var r chainedRow
			return r, s.Scan(r.dest()...)
		})
		if err != nil {
			return chained, err
		}
		for _, r := range batch {
			seq++
			hash, err := entryHash(seq, head, r)
			if err != nil {
				return chained, fmt.Errorf("audit chain: row %d: %w", r.id, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO audit_chain (seq, row_id, prev_hash, hash) VALUES ($1, $2, $3, $4)`,
				seq, r.id, head, hash); err != nil {
				return chained, fmt.Errorf("audit chain: row %d: %w", r.id, err)
			}
			head = hash
			after.Int64 = r.id
			chained++
		}
		if len(batch) < chainBatch {
			return chained, nil
		}
	}
}

// ChainAudit chains every audit row not in the chain yet, and returns how many it
// chained; Migrate runs it, so rows from before the chain and, on PostgreSQL, rows the
// previous release wrote during an upgrade are chained without waiting for the next
// append.
func (db *DB) ChainAudit(ctx context.Context) (int, error) {
	return db.chainAudit(ctx, true)
}

// chainAudit is ChainAudit; without all it chains only the rows newer than the chain's
// newest row (cheap: SQLite's Open runs it at every start).
func (db *DB) chainAudit(ctx context.Context, all bool) (int, error) {
	var n int
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.lockAuditChain(ctx, tx); err != nil {
			return err
		}
		var err error
		n, err = chainPending(ctx, tx, all)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("chain audit: %w", err)
	}
	return n, nil
}

// ChainBreak is the first broken link VerifyAudit found.
type ChainBreak struct {
	RowID  int64 // the audit row concerned; 0 when it is the chain itself
	Seq    int64 // the chain entry; noEntry when the break is at no entry
	Reason string
}

// noEntry is ChainBreak.Seq for a break no chain entry holds: a row left out of the
// chain, a kept head no longer in it.
const noEntry = -1

func (b *ChainBreak) Error() string {
	switch {
	case b.RowID == 0 && b.Seq == noEntry:
		return "audit chain: " + b.Reason
	case b.RowID == 0:
		return fmt.Sprintf("audit chain entry %d: %s", b.Seq, b.Reason)
	case b.Seq == noEntry:
		return fmt.Sprintf("audit row %d: %s", b.RowID, b.Reason)
	}
	return fmt.Sprintf("audit row %d (chain entry %d): %s", b.RowID, b.Seq, b.Reason)
}

// versionedHash matches what a hash of any version looks like: "v", a number, ":" and
// the hex SHA-256.
var versionedHash = regexp.MustCompile(`^v[1-9][0-9]*:[0-9a-f]{64}$`)

// ValidHeadHash reports whether h looks like a head hash verify prints (of any version).
func ValidHeadHash(h string) bool { return versionedHash.MatchString(h) }

// ChainReport is what VerifyAudit found.
type ChainReport struct {
	Rows    int64  // audit rows in the chain
	Head    string // the newest entry's hash: keep it elsewhere
	Pending int64  // rows newer than the chain's head, not chained yet (previous release)
	Break   *ChainBreak
}

// VerifyAudit walks the audit chain of the database at databaseURL, streaming, in one
// read-only snapshot, and reports the first broken link: an entry missing or out of
// place, a row removed, a row whose fields no longer match its hash, a row left out of
// the chain, or (when head is not empty) a head hash printed earlier that is no longer
// in the chain, as when the newest rows were removed. The error is for when it cannot
// check at all (no database, an unreadable URL, a schema without the chain).
func VerifyAudit(ctx context.Context, databaseURL, head string) (ChainReport, error) {
	sqlDB, d, err := openForCheck(ctx, databaseURL)
	if err != nil {
		return ChainReport{}, err
	}
	defer sqlDB.Close()
	if _, err := checkSchema(ctx, sqlDB, d); err != nil {
		return ChainReport{}, err
	}
	opts := &sql.TxOptions{ReadOnly: true}
	if d == postgresDialect {
		opts.Isolation = sql.LevelRepeatableRead
	} else {
		opts = nil // a deferred transaction: one read snapshot in WAL mode
	}
	tx, err := sqlDB.BeginTx(ctx, opts)
	if err != nil {
		return ChainReport{}, fmt.Errorf("verify: begin: %w", err)
	}
	defer tx.Rollback()
	if d == postgresDialect {
		// One walk over the whole trail may take longer than a request's statement.
		if _, err := tx.ExecContext(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
			return ChainReport{}, fmt.Errorf("verify: %w", err)
		}
	}
	rep, err := walkChain(ctx, tx, head)
	if err != nil {
		return ChainReport{}, fmt.Errorf("verify: %w", err)
	}
	return rep, nil
}

func walkChain(ctx context.Context, tx *sql.Tx, wantHead string) (ChainReport, error) {
	var rep ChainReport
	rows, err := tx.QueryContext(ctx, `SELECT c.seq, c.row_id, c.prev_hash, c.hash, `+chainedColumns+`
FROM audit_chain c LEFT JOIN audit_events a ON a.id = c.row_id ORDER BY c.seq`)
	if err != nil {
		return rep, err
	}
	defer rows.Close()
	var (
		want     int64 // the next entry's seq
		prev     string
		maxRow   int64
		headSeen bool
	)
	fail := func(row, seq int64, format string, args ...any) (ChainReport, error) {
		rep.Break = &ChainBreak{RowID: row, Seq: seq, Reason: fmt.Sprintf(format, args...)}
		return rep, nil
	}
	for rows.Next() {
		var seq int64
		var rowID sql.NullInt64
		var prevHash, hash string
		var id sql.NullInt64
		var at, action, outcome, detail, remote, ua sql.NullString
		var r chainedRow
		if err := rows.Scan(&seq, &rowID, &prevHash, &hash, &id, &at, &r.actor, &r.subject, &action, &r.device, &r.attempt,
			&outcome, &detail, &remote, &ua, &r.deviceName, &r.accountName); err != nil {
			return rep, err
		}
		r.id, r.at, r.action, r.outcome, r.detail, r.remote, r.userAgent =
			id.Int64, at.String, action.String, outcome.String, detail.String, remote.String, ua.String
		switch {
		case seq != want && want == 0:
			return fail(0, 0, "the genesis entry is missing")
		case seq != want:
			return fail(0, want, "missing from the chain (the next entry is %d, row %d): removed", seq, rowID.Int64)
		case seq == 0:
			if rowID.Valid || prevHash != "" || hash != genesisHash {
				return fail(0, 0, "the genesis entry was altered")
			}
		case !versionedHash.MatchString(hash):
			return fail(rowID.Int64, seq, "its hash is not a hash of any version: altered")
		case !strings.HasPrefix(hash, chainVersion+":"):
			// Not a break this binary can name: a newer release's encoding.
			return rep, fmt.Errorf("audit row %d (chain entry %d): hash version %q is not one this Latchkey knows (use the newest release's verify)",
				rowID.Int64, seq, strings.SplitN(hash, ":", 2)[0])
		case !rowID.Valid:
			return fail(0, seq, "names no audit row")
		case !id.Valid:
			return fail(rowID.Int64, seq, "the row is missing: removed")
		case prevHash != prev:
			return fail(rowID.Int64, seq, "its link to the previous entry is broken (an entry was removed or altered)")
		default:
			got, err := entryHash(seq, prevHash, r)
			if err != nil {
				return fail(rowID.Int64, seq, "unreadable: %v", err)
			}
			if got != hash {
				return fail(rowID.Int64, seq, "its fields do not match its hash: altered (or swapped with another row)")
			}
			rep.Rows++
			maxRow = max(maxRow, rowID.Int64)
		}
		if hash == wantHead {
			headSeen = true
		}
		prev = hash
		want++
	}
	if err := rows.Err(); err != nil {
		return rep, err
	}
	if want == 0 {
		return fail(0, 0, "the genesis entry is missing")
	}
	rep.Head = prev
	var missing sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MIN(a.id) FROM audit_events a
WHERE a.id < $1 AND NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.row_id = a.id)`, maxRow).Scan(&missing); err != nil {
		return rep, err
	}
	if missing.Valid {
		return fail(missing.Int64, noEntry, "the row is not in the chain (inserted behind it, or its entry removed; "+
			"a row the previous release wrote during an upgrade is chained by `latchkey migrate`)")
	}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_events WHERE id > $1`, maxRow).Scan(&rep.Pending); err != nil {
		return rep, err
	}
	if wantHead != "" && !headSeen {
		return fail(0, noEntry, "the head %s given is not in the chain: rows up to it were removed or the chain rewritten", wantHead)
	}
	return rep, nil
}

// openForCheck opens the database at databaseURL to read it, without migrating or
// creating anything: a SQLite file must exist and is opened query-only.
func openForCheck(ctx context.Context, databaseURL string) (*sql.DB, dialect, error) {
	if isPostgresURL(databaseURL) {
		db, err := openPostgres(ctx, databaseURL)
		if err != nil {
			return nil, 0, err
		}
		return db.sql, postgresDialect, nil
	}
	scheme, path, ok := strings.Cut(databaseURL, ":")
	if !ok || scheme != "sqlite" {
		return nil, 0, errors.New("DATABASE_URL: not of the form sqlite:PATH or postgres://…")
	}
	if strings.HasPrefix(path, "///") {
		path = path[2:]
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "//") || strings.ContainsAny(path, "?\x00") ||
		strings.HasPrefix(path, "file:") {
		return nil, 0, errors.New("DATABASE_URL: not a SQLite file path")
	}
	if _, err := os.Stat(path); err != nil {
		return nil, 0, fmt.Errorf("DATABASE_URL: %w", err)
	}
	sqlDB, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		return nil, 0, fmt.Errorf("open database: %w", err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, 0, fmt.Errorf("open database: %w", err)
	}
	return sqlDB, sqliteDialect, nil
}
