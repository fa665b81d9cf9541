package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/alexedwards/scs/v2"
)

// Sessions is the signed-in sessions' store for scs (an scs.CtxStore), on either
// database: every call takes the request's context, and expired rows are removed by
// DeleteExpiredSessions, run by the app's janitor, not by a goroutine of its own.
type Sessions struct{ db *DB }

var _ scs.CtxStore = (*Sessions)(nil)

// Sessions returns the session store on db.
func (db *DB) Sessions() *Sessions { return &Sessions{db: db} }

// SessionUserKey is the session value holding the signed-in user's id. The store copies
// it into the sessions row, so FindCtx can load the user with the session.
const SessionUserKey = "user_id"

// SessionLastSeenKey is the session value holding the unix time the session was last
// seen (written at most once a minute, the idle deadline's start). The store copies it
// into the row's last_seen_at.
const SessionLastSeenKey = "last_seen"

// sessionUserSlot receives the user FindCtx loaded with the session, and the token it
// found: CommitCtx then only updates that row, never brings it back once it was ended.
type sessionUserSlot struct {
	user   User
	ok     bool
	loaded string
	// client is the client saving the session (WithSessionClient), kept here when
	// the context has a slot: no allocation per request.
	client sessionClient
	// hasRefresh and refreshedAt: whether the session holds a refresh token, and when
	// it was last used, so a page view knows without a query whether a re-check is due.
	hasRefresh  bool
	refreshedAt sql.NullString
}

type sessionUserSlotKey struct{}

// WithSessionUserSlot returns ctx with room for the user a session load finds. Pass it
// to the session manager's Load; read the user back with SessionUser.
func WithSessionUserSlot(ctx context.Context) context.Context {
	return context.WithValue(ctx, sessionUserSlotKey{}, &sessionUserSlot{})
}

// SessionUser returns the user loaded with the session in ctx's slot, if there was one.
// Callers must check the id against the session's own value.
func SessionUser(ctx context.Context) (User, bool) {
	s, _ := ctx.Value(sessionUserSlotKey{}).(*sessionUserSlot)
	if s == nil || !s.ok {
		return User{}, false
	}
	return s.user, true
}

// SessionRefreshDue reports whether the session loaded into ctx's slot holds a refresh
// token last used interval or longer before now.
func SessionRefreshDue(ctx context.Context, now time.Time, interval time.Duration) bool {
	s, _ := ctx.Value(sessionUserSlotKey{}).(*sessionUserSlot)
	if s == nil || !s.hasRefresh {
		return false
	}
	at, err := parseNullTime(s.refreshedAt)
	return err != nil || at == nil || now.Sub(*at) >= interval
}

// SetSessionUser replaces the user in ctx's slot (after a refresh changed them).
func SetSessionUser(ctx context.Context, u User) {
	if s, _ := ctx.Value(sessionUserSlotKey{}).(*sessionUserSlot); s != nil {
		s.user, s.ok = u, true
	}
}

// findSessionSQL is FindCtx's query in each dialect; they differ in the user's listing
// version only. SQLite's is kept by triggers (migration 014). PostgreSQL has none and
// reads 0 (unknown: device lists are read afresh): there the trigger would make every
// write of a user's devices or attempts lock their users row, and two transactions
// writing two of one user's devices in opposite orders could deadlock.
var findSessionSQL = map[dialect]string{
	sqliteDialect:   findSessionQuery("COALESCE(u.listing_version, 0)"),
	postgresDialect: findSessionQuery("0"),
}

func findSessionQuery(listingVersion string) string {
	return `
SELECT COALESCE(u.id, ''), COALESCE(u.issuer, ''), COALESCE(u.subject, ''), COALESCE(u.email, ''),
       COALESCE(u.email_verified, FALSE), COALESCE(u.name, ''), COALESCE(u.is_admin, FALSE) AND NOT s.oidc_admin_dropped,
       COALESCE(u.created_at, s.expiry), COALESCE(u.last_login_at, s.expiry), COALESCE(u.time_zone, ''), u.disabled_at, s.data,
       s.oidc_refresh_token IS NOT NULL, s.oidc_refreshed_at, s.expiry, ` + listingVersion + `
FROM sessions s LEFT JOIN users u ON u.id = s.user_id
WHERE s.token = $1 AND s.expiry > $2`
}

// FindCtx returns the session data of a token that has not expired. The session's user
// comes in the same query and goes to ctx's slot (WithSessionUserSlot), if it has one.
// On a SQLite file, a session read since the database last changed is not read again
// (sessionMemo).
func (s *Sessions) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	now := time.Now()
	memo := s.db.memo
	var version memoVersion
	if memo != nil {
		var ok bool
		if version, ok = memo.current(ctx); !ok {
			memo = nil
		} else if row, ok := memo.get(token, version, now); ok {
			row.fill(ctx, token)
			return row.data, true, nil
		}
	}
	// One allocation for the columns past the user's.
	var v struct {
		row            memoSession
		expiry         string
		listingVersion int64
	}
	row := &v.row
	r := s.db.queryRowCached(ctx, findSessionSQL[s.db.dialect], token, formatTime(now))
	u, err := scanUser(r, &row.data, &row.hasRefresh, &row.refreshedAt, &v.expiry, &v.listingVersion)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err == nil {
		row.expiry, err = parseTime(v.expiry)
	}
	if err != nil {
		return nil, false, fmt.Errorf("find session: %w", err)
	}
	u.ListingVersion = v.listingVersion
	row.user, row.hasUser = u, u.ID != ""
	if memo != nil {
		memo.put(token, version, *row)
	}
	row.fill(ctx, token)
	return row.data, true, nil
}

// fill puts the session row's user and refresh state into ctx's slot, if it has one.
func (row memoSession) fill(ctx context.Context, token string) {
	if slot, _ := ctx.Value(sessionUserSlotKey{}).(*sessionUserSlot); slot != nil {
		slot.loaded = token
		slot.hasRefresh, slot.refreshedAt = row.hasRefresh, row.refreshedAt
		if row.hasUser {
			slot.user, slot.ok = row.user, true
		}
	}
}

// sessionClient is the client a session is saved for (WithSessionClient).
type sessionClient struct{ userAgent, addr string }

type sessionClientKey struct{}

// WithSessionClient returns ctx naming the client (user agent, address) whose request
// saves the session, so the row says where the session is used.
func WithSessionClient(ctx context.Context, userAgent, addr string) context.Context {
	c := sessionClient{userAgent: userAgent, addr: addr}
	if slot, _ := ctx.Value(sessionUserSlotKey{}).(*sessionUserSlot); slot != nil {
		slot.client = c
		return ctx
	}
	return context.WithValue(ctx, sessionClientKey{}, c)
}

// Bounds on what a session row keeps of its client.
const (
	maxSessionUserAgentBytes = 256
	maxSessionAddrBytes      = 64
)

// CommitCtx saves a session's data until expiry, with its user's id, when it was last
// seen and by which client beside it. A new session gets a public id and a start time.
// A session this request loaded is only updated: if it was ended meanwhile (signed out
// elsewhere, its user disabled) it stays ended.
func (s *Sessions) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	var userID, sid, refresh sql.NullString
	now := time.Now()
	lastSeen := now
	if deadline, values, err := (SessionCodec{}).Decode(b); err == nil {
		if v, ok := values[SessionRefreshTokenKey].(string); ok {
			// The refresh token lives in its column only, where the compare-and-swap of
			// a refresh can reach it.
			if v != "" {
				refresh = sql.NullString{String: v, Valid: true}
			}
			delete(values, SessionRefreshTokenKey)
			if b, err = (SessionCodec{}).Encode(deadline, values); err != nil {
				return fmt.Errorf("commit session: %w", err)
			}
		}
		if id, ok := values[SessionUserKey].(string); ok && id != "" {
			userID = sql.NullString{String: id, Valid: true}
		}
		if v, ok := values[SessionOIDCSIDKey].(string); ok && v != "" {
			sid = sql.NullString{String: v, Valid: true}
		}
		if ts, ok := values[SessionLastSeenKey].(int64); ok && ts > 0 {
			lastSeen = time.Unix(ts, 0)
		}
	}
	slot, _ := ctx.Value(sessionUserSlotKey{}).(*sessionUserSlot)
	client, _ := ctx.Value(sessionClientKey{}).(sessionClient)
	if slot != nil && slot.client != (sessionClient{}) {
		client = slot.client
	}
	ua, addr := clean(client.userAgent, maxSessionUserAgentBytes), clean(client.addr, maxSessionAddrBytes)
	if slot != nil && slot.loaded != "" && slot.loaded == token {
		// Rows saved by the previous release get a public id at their next save.
		if _, err := s.db.sql.ExecContext(ctx, `
UPDATE sessions SET data = $2, expiry = $3, user_id = $4, last_seen_at = $5,
    user_agent = COALESCE(NULLIF($6, ''), user_agent), client_addr = COALESCE(NULLIF($7, ''), client_addr),
    public_id = COALESCE(public_id, $8), created_at = COALESCE(created_at, $9), oidc_sid = $10,
    oidc_refresh_token = COALESCE($11, oidc_refresh_token), oidc_refreshed_at = CASE WHEN $11 IS NULL THEN oidc_refreshed_at ELSE $9 END
WHERE token = $1`,
			token, b, formatTime(expiry), userID, formatTime(lastSeen), ua, addr, newPublicID(), formatTime(now), sid, refresh); err != nil {
			return fmt.Errorf("commit session: %w", err)
		}
		return nil
	}
	if _, err := s.db.sql.ExecContext(ctx, `
INSERT INTO sessions (token, data, expiry, user_id, public_id, created_at, last_seen_at, user_agent, client_addr, oidc_sid,
    oidc_refresh_token, oidc_refreshed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $6)
ON CONFLICT (token) DO UPDATE SET data = excluded.data, expiry = excluded.expiry, user_id = excluded.user_id,
    oidc_sid = excluded.oidc_sid,
    oidc_refresh_token = COALESCE(excluded.oidc_refresh_token, sessions.oidc_refresh_token),
    last_seen_at = excluded.last_seen_at,
    user_agent = COALESCE(NULLIF(excluded.user_agent, ''), sessions.user_agent),
    client_addr = COALESCE(NULLIF(excluded.client_addr, ''), sessions.client_addr),
    public_id = COALESCE(sessions.public_id, excluded.public_id),
    created_at = COALESCE(sessions.created_at, excluded.created_at)`,
		token, b, formatTime(expiry), userID, newPublicID(), formatTime(now), formatTime(lastSeen), ua, addr, sid, refresh); err != nil {
		return fmt.Errorf("commit session: %w", err)
	}
	return nil
}

// newPublicID is a session's name in URLs: 128 random bits, unrelated to its token.
func newPublicID() string { return rand.Text() }

// ValidSessionPublicID reports whether id has the form of a public id (rand.Text:
// 26 characters of base32), so malformed ids are refused before any query.
func ValidSessionPublicID(id string) bool {
	if len(id) != 26 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z') && !(c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

// SessionInfo is one of a user's signed-in sessions as they may see it: never its token.
type SessionInfo struct {
	// PublicID names the session in URLs; "" for a session not saved since the
	// release that added it (it can still be ended with all the others).
	PublicID string
	// CreatedAt and LastSeenAt are zero when unknown (saved by an older release).
	CreatedAt  time.Time
	LastSeenAt time.Time
	Expiry     time.Time
	UserAgent  string
	ClientAddr string
	// Current is the session of the request that asked.
	Current bool
}

// UserSessions returns the user's sessions that have not expired, most recently seen
// first; current is the asking request's token, to mark its session.
func (db *DB) UserSessions(ctx context.Context, userID, current string, now time.Time) ([]SessionInfo, error) {
	rows, err := db.sql.QueryContext(ctx, `
SELECT COALESCE(public_id, ''), created_at, last_seen_at, expiry, user_agent, client_addr,
       CASE WHEN token = $2 THEN 1 ELSE 0 END
FROM sessions WHERE user_id = $1 AND expiry > $3`, userID, current, formatTime(nowOr(now)))
	out, err := collect("user sessions", rows, err, func(s scanner) (SessionInfo, error) {
		var i SessionInfo
		var created, seen sql.NullString
		var expiry string
		var cur int
		if err := s.Scan(&i.PublicID, &created, &seen, &expiry, &i.UserAgent, &i.ClientAddr, &cur); err != nil {
			return i, err
		}
		i.Current = cur == 1
		for _, t := range []struct {
			v   sql.NullString
			dst *time.Time
		}{{created, &i.CreatedAt}, {seen, &i.LastSeenAt}} {
			p, err := parseNullTime(t.v)
			if err != nil {
				return i, err
			}
			if p != nil {
				*t.dst = *p
			}
		}
		var err error
		i.Expiry, err = parseTime(expiry)
		return i, err
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b SessionInfo) int {
		if a.Current != b.Current {
			if a.Current {
				return -1
			}
			return 1
		}
		return b.LastSeenAt.Compare(a.LastSeenAt)
	})
	return out, nil
}

// EndSessions says which of a user's sessions to end, and the audit event that says so.
type EndSessions struct {
	UserID string
	// PublicID ends that one session only (ErrNotFound when it is not the user's).
	PublicID string
	// Except keeps the session with this token (the asking one): "end all others".
	Except string
	// Audit is appended in the same transaction, if anything was ended or PublicID was
	// given; an empty Detail says how many sessions ended.
	Audit AuditEvent
}

// EndUserSessions deletes the user's sessions e names, so every instance treats them
// as signed out at their next request, and returns their tokens (to close their live
// streams).
func (db *DB) EndUserSessions(ctx context.Context, e EndSessions) ([]string, error) {
	if e.UserID == "" {
		return nil, errors.New("end sessions: user id is required")
	}
	var tokens []string
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		tokens, err = deleteSessions(ctx, tx, e)
		if err != nil {
			return err
		}
		if e.PublicID != "" && len(tokens) == 0 {
			return ErrNotFound
		}
		if len(tokens) == 0 || e.Audit.Action == "" {
			return nil
		}
		if e.Audit.Detail == "" {
			e.Audit.Detail = sessionsEnded(len(tokens))
		}
		return db.appendAudit(ctx, tx, e.Audit)
	})
	if err != nil {
		return nil, fmt.Errorf("end sessions of %s: %w", e.UserID, err)
	}
	return tokens, nil
}

// deleteSessions deletes the sessions e names inside tx and returns their tokens.
func deleteSessions(ctx context.Context, tx *sql.Tx, e EndSessions) ([]string, error) {
	query, args := `DELETE FROM sessions WHERE user_id = $1`, []any{e.UserID}
	if e.PublicID != "" {
		query += ` AND public_id = $2`
		args = append(args, e.PublicID)
	} else if e.Except != "" {
		query += ` AND token <> $2`
		args = append(args, e.Except)
	}
	rows, err := tx.QueryContext(ctx, query+` RETURNING token`, args...)
	return collect("delete sessions", rows, err, func(s scanner) (string, error) {
		var token string
		return token, s.Scan(&token)
	})
}

func sessionsEnded(n int) string {
	if n == 1 {
		return "1 session ended"
	}
	return fmt.Sprintf("%d sessions ended", n)
}

// DeleteCtx ends a session.
func (s *Sessions) DeleteCtx(ctx context.Context, token string) error {
	if _, err := s.db.sql.ExecContext(ctx, `DELETE FROM sessions WHERE token = $1`, token); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// Find, Commit and Delete satisfy scs.Store; scs calls the Ctx methods instead.
func (s *Sessions) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// Commit saves a session (scs.Store); scs calls CommitCtx instead.
func (s *Sessions) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// Delete ends a session (scs.Store); scs calls DeleteCtx instead.
func (s *Sessions) Delete(token string) error {
	return s.DeleteCtx(context.Background(), token)
}

// DeleteExpiredSessions removes sessions whose expiry passed before now.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := db.sql.ExecContext(ctx, `DELETE FROM sessions WHERE expiry <= $1`, formatTime(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return res.RowsAffected()
}
