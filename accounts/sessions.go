package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/store"
)

// Sessions runs the use cases of a person's signed-in sessions (see them, end one, end
// all others, sign out everywhere) and of admins ending a user's sessions and disabling
// or enabling users. The database is the truth: an ended session's row is deleted, so
// every instance treats it as signed out at its next request.
type Sessions struct {
	Store SessionStore
	Log   *slog.Logger
	// Now is the clock; tests replace it.
	Now func() time.Time
	// Ended is told the tokens of sessions that ended, so their open live streams close
	// at once (on every instance); nil leaves that to the streams' next heartbeat.
	Ended func(userID string, tokens []string)
}

// SessionStore is the part of Latchkey's records the session use cases need.
type SessionStore interface {
	UserSessions(ctx context.Context, userID, current string, now time.Time) ([]store.SessionInfo, error)
	EndUserSessions(ctx context.Context, e store.EndSessions) ([]string, error)
	SetUserDisabled(ctx context.Context, d store.UserDisabling) (store.User, []string, error)
	UserByID(ctx context.Context, id string) (store.User, error)
	AppendAudit(ctx context.Context, e store.AuditEvent) error
	EndSessionsAtIdPLogout(ctx context.Context, l store.IdPLogout) (store.EndedSessions, error)
}

// Errors of the session use cases (wrapped); handlers turn each into a page.
var (
	// ErrSessionNotFound is a public id that is malformed, unknown, already ended or
	// another user's; the refusal has been audited.
	ErrSessionNotFound = errors.New("session not found among the user's")
	// ErrUserNotFound is an admin's target user that does not exist.
	ErrUserNotFound = errors.New("user not found")
	// ErrDisableSelf: an admin cannot disable their own account (and lock everyone out).
	ErrDisableSelf = errors.New("an admin cannot disable their own account")
)

// List returns the user's sessions, the one with token current marked and first.
func (s *Sessions) List(ctx context.Context, user store.User, current string) ([]store.SessionInfo, error) {
	return s.Store.UserSessions(ctx, user.ID, current, s.now())
}

// End ends one of the user's sessions, named by its public id, and reports whether it
// was the asking one (token current). Another user's session is ErrSessionNotFound,
// exactly as one that does not exist, and ends nothing.
func (s *Sessions) End(ctx context.Context, user store.User, publicID, current string) (bool, error) {
	deny := func() (bool, error) {
		// The id came in the URL: whatever the client wrote, bounded, quoted and marked.
		s.audit(ctx, s.event(ctx, user, user.ID, store.AuditAccessDenied, store.OutcomeDenied,
			store.ClientString("session id", publicID)+" is not one of the user's"))
		return false, ErrSessionNotFound
	}
	if !store.ValidSessionPublicID(publicID) {
		return deny()
	}
	tokens, err := s.Store.EndUserSessions(ctx, store.EndSessions{UserID: user.ID, PublicID: publicID,
		Audit: s.event(ctx, user, user.ID, store.AuditSessionEnded, store.OutcomeSuccess, "session "+shortPublicID(publicID))})
	if errors.Is(err, store.ErrNotFound) {
		return deny()
	}
	if err != nil {
		return false, err
	}
	s.ended(user.ID, tokens)
	return current != "" && slices.Contains(tokens, current), nil
}

// EndOthers ends every session of the user's but the one with token current, and
// says how many ended.
func (s *Sessions) EndOthers(ctx context.Context, user store.User, current string) (int, error) {
	if current == "" {
		return 0, errors.New("end other sessions: the current session is unknown")
	}
	tokens, err := s.Store.EndUserSessions(ctx, store.EndSessions{UserID: user.ID, Except: current,
		Audit: s.event(ctx, user, user.ID, store.AuditSessionEndedOthers, store.OutcomeSuccess, "")})
	if err != nil {
		return 0, err
	}
	s.ended(user.ID, tokens)
	return len(tokens), nil
}

// SignOutEverywhere ends every session of the user's, the asking one included.
func (s *Sessions) SignOutEverywhere(ctx context.Context, user store.User) error {
	tokens, err := s.Store.EndUserSessions(ctx, store.EndSessions{UserID: user.ID,
		Audit: s.event(ctx, user, user.ID, store.AuditLogoutEverywhere, store.OutcomeSuccess, "")})
	if err != nil {
		return err
	}
	s.ended(user.ID, tokens)
	return nil
}

// EndAllOf is an admin ending every session of the user targetID; it says how many.
func (s *Sessions) EndAllOf(ctx context.Context, admin store.User, targetID string) (int, error) {
	target, err := s.target(ctx, targetID)
	if err != nil {
		return 0, err
	}
	tokens, err := s.Store.EndUserSessions(ctx, store.EndSessions{UserID: target.ID,
		Audit: s.event(ctx, admin, target.ID, store.AuditAdminSessionsEnded, store.OutcomeSuccess, "")})
	if err != nil {
		return 0, err
	}
	if len(tokens) == 0 {
		// Nothing to end is still an admin's deliberate act on the account.
		s.audit(ctx, s.event(ctx, admin, target.ID, store.AuditAdminSessionsEnded, store.OutcomeSuccess, "no session to end"))
	}
	s.ended(target.ID, tokens)
	return len(tokens), nil
}

// Disable is an admin disabling the user targetID: every session of theirs ends in the
// same transaction, sign-in is refused, and their lock actions are refused inside the
// transaction that would record them. Admins cannot disable themselves.
func (s *Sessions) Disable(ctx context.Context, admin store.User, targetID string) (store.User, error) {
	target, err := s.target(ctx, targetID)
	if err != nil {
		return store.User{}, err
	}
	if target.ID == admin.ID {
		s.audit(ctx, s.event(ctx, admin, target.ID, store.AuditAdminDisableRefused, store.OutcomeDenied, "an admin cannot disable their own account"))
		return store.User{}, ErrDisableSelf
	}
	u, tokens, err := s.Store.SetUserDisabled(ctx, store.UserDisabling{UserID: target.ID, Disabled: true, At: s.now(),
		Audit: s.event(ctx, admin, target.ID, store.AuditAdminUserDisabled, store.OutcomeSuccess, "")})
	if err != nil {
		return store.User{}, err
	}
	s.ended(target.ID, tokens)
	s.log().InfoContext(ctx, "user disabled", "user_id", target.ID, "by", admin.ID, "sessions_ended", len(tokens))
	return u, nil
}

// Enable is an admin enabling the user targetID again: they may sign in.
func (s *Sessions) Enable(ctx context.Context, admin store.User, targetID string) (store.User, error) {
	target, err := s.target(ctx, targetID)
	if err != nil {
		return store.User{}, err
	}
	u, _, err := s.Store.SetUserDisabled(ctx, store.UserDisabling{UserID: target.ID, Disabled: false,
		Audit: s.event(ctx, admin, target.ID, store.AuditAdminUserEnabled, store.OutcomeSuccess, "")})
	if err != nil {
		return store.User{}, err
	}
	s.log().InfoContext(ctx, "user enabled", "user_id", target.ID, "by", admin.ID)
	return u, nil
}

// EndAtIdPLogout ends, on every instance, the sessions a verified back-channel logout
// names (l.SID, or every session of the user l.Subject), audited per user. A jti seen
// before is store.ErrLogoutReplayed and ends nothing. It says how many ended.
func (s *Sessions) EndAtIdPLogout(ctx context.Context, l store.IdPLogout) (int, error) {
	info := request.From(ctx)
	l.At = s.now()
	l.Audit = store.AuditEvent{At: l.At, Action: store.AuditIdPLogout, Outcome: store.OutcomeSuccess,
		RemoteAddr: info.RemoteAddr, UserAgent: info.UserAgent}
	ended, err := s.Store.EndSessionsAtIdPLogout(ctx, l)
	if err != nil {
		return 0, err
	}
	n := 0
	for userID, tokens := range ended {
		s.ended(userID, tokens)
		n += len(tokens)
	}
	s.log().InfoContext(ctx, "back-channel logout", "by_sid", l.SID != "", "by_sub", l.Subject != "", "users", len(ended), "sessions_ended", n)
	return n, nil
}

func (s *Sessions) target(ctx context.Context, id string) (store.User, error) {
	u, err := s.Store.UserByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("%w: %w", ErrUserNotFound, err)
	}
	return u, err
}

func (s *Sessions) ended(userID string, tokens []string) {
	if s.Ended != nil && len(tokens) > 0 {
		s.Ended(userID, tokens)
	}
}

// event is an audit event by actor concerning subjectID, naming the request's client.
func (s *Sessions) event(ctx context.Context, actor store.User, subjectID, action, outcome, detail string) store.AuditEvent {
	info := request.From(ctx)
	return store.AuditEvent{At: s.now(), ActorID: actor.ID, SubjectUserID: subjectID, Action: action, Outcome: outcome,
		Detail: detail, RemoteAddr: info.RemoteAddr, UserAgent: info.UserAgent}
}

// audit appends e; a failed write is logged: what it describes has happened.
func (s *Sessions) audit(ctx context.Context, e store.AuditEvent) {
	if err := s.Store.AppendAudit(ctx, e); err != nil {
		s.log().ErrorContext(ctx, "audit write failed", "action", e.Action, "error", err)
	}
}

func (s *Sessions) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Sessions) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

// shortPublicID is enough of a public id to tell sessions apart in the trail, bounded
// whatever the URL held.
func shortPublicID(id string) string {
	if len(id) > 8 {
		id = id[:8]
	}
	return fmt.Sprintf("%q", id)
}
