package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/store"
)

// RecheckStore keeps the sessions' refresh tokens (store.DB).
type RecheckStore interface {
	ClaimSessionRefresh(ctx context.Context, sessionToken string, now time.Time, interval, leaseFor time.Duration) (store.RefreshLease, bool, error)
	CompleteSessionRefresh(ctx context.Context, d store.RefreshDone) (store.User, error)
	EndRefusedSession(ctx context.Context, l store.RefreshLease, audit store.AuditEvent) (string, error)
}

// Refresher uses a refresh token at the IdP (RP).
type Refresher interface {
	Refresh(ctx context.Context, refreshToken, subject string) (*Refreshed, error)
}

// Bounds of a re-check: the IdP call's timeout, and the lease that keeps other
// instances from using the same refresh token meanwhile (well above the timeout, so a
// lease never runs out while its call may still succeed; after a failure it is also
// the wait before the next try).
const (
	recheckTimeout = 5 * time.Second
	recheckLease   = 30 * time.Second
)

// Recheck keeps the IdP in charge of signed-in sessions that hold a refresh token: at
// most every Interval while a session is used, the request that finds it due refreshes
// at the IdP, in the request path with a short timeout. Only one instance does (it
// claims a lease on the row first, so a rotating refresh token is used once); others
// go on with the session as it is. A refusal (invalid_grant) ends the session — the
// request goes on signed out; new ID token claims update the user (admin rights, name,
// email); no ID token drops the session's admin rights until the next sign-in; the
// IdP unreachable keeps the session and tries again after the lease.
type Recheck struct {
	Sessions *scs.SessionManager
	Store    RecheckStore
	IdP      Refresher
	Interval time.Duration
	Log      *slog.Logger
	Now      func() time.Time
	// Ended is told of a session ended by a refusal, to close its live streams.
	Ended func(userID, token string)
}

// Middleware runs the re-check; it goes after SaveSessions and before LoadUser.
func (rc *Recheck) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := rc.Now()
		if rc.Interval > 0 && store.SessionRefreshDue(r.Context(), now, rc.Interval) {
			rc.recheck(r, now)
		}
		next.ServeHTTP(w, r)
	})
}

func (rc *Recheck) recheck(r *http.Request, now time.Time) {
	ctx := r.Context()
	token := SessionToken(r)
	u, ok := store.SessionUser(ctx)
	if token == "" || !ok || u.ID != rc.Sessions.GetString(ctx, sessionUserID) {
		return
	}
	lease, ok, err := rc.Store.ClaimSessionRefresh(ctx, token, now, rc.Interval, recheckLease)
	if err != nil {
		rc.Log.ErrorContext(ctx, "claim session re-check", "error", err)
		return
	}
	if !ok {
		return // not due after all, or another instance is at it
	}
	// The refresh token is spent once the IdP answers: finish on a context the
	// browser cannot cancel.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recheckTimeout)
	defer cancel()
	got, err := rc.IdP.Refresh(cctx, lease.RefreshToken, u.Subject)
	switch {
	case errors.Is(err, ErrRefreshRefused):
		info := request.From(ctx)
		ended, err := rc.Store.EndRefusedSession(context.WithoutCancel(ctx), lease, store.AuditEvent{At: now,
			Action: store.AuditIdPRefreshRefused, Outcome: store.OutcomeDenied, Detail: "the identity provider refused the session's refresh token",
			RemoteAddr: info.RemoteAddr, UserAgent: info.UserAgent})
		if err != nil {
			rc.Log.ErrorContext(ctx, "end refused session", "error", err)
			return
		}
		rc.Log.InfoContext(ctx, "session ended: the identity provider refused its refresh", "user_id", u.ID)
		if ended != "" && rc.Ended != nil {
			rc.Ended(ended, token)
		}
		_ = rc.Sessions.Destroy(ctx) // this request goes on signed out
		return
	case err != nil && (got == nil || got.RefreshToken == ""):
		// Down or answering oddly: keep the session, try again after the lease.
		rc.Log.WarnContext(ctx, "session re-check at the identity provider failed; keeping the session", "user_id", u.ID, "error", err)
		return
	case err != nil:
		// The IdP rotated the token but its ID token did not verify: keep the new token
		// (the old one is spent) and, without verified claims, no admin rights.
		rc.Log.WarnContext(ctx, "session re-check brought an ID token that did not verify; keeping the session without admin rights", "user_id", u.ID, "error", err)
		got.Identity = nil
	}
	done := store.RefreshDone{Lease: lease, At: now, NewRefreshToken: got.RefreshToken}
	if id := got.Identity; id != nil {
		done.Claims = &store.Login{Issuer: id.Issuer, Subject: id.Subject, Email: id.Email, EmailVerified: id.EmailVerified, Name: id.Name, IsAdmin: id.IsAdmin}
	}
	nu, err := rc.Store.CompleteSessionRefresh(context.WithoutCancel(ctx), done)
	if err != nil {
		rc.Log.ErrorContext(ctx, "store session re-check", "error", err)
		return
	}
	if nu.IsAdmin != u.IsAdmin {
		rc.Log.InfoContext(ctx, "admin rights changed at re-check", "user_id", u.ID, "admin", nu.IsAdmin, "id_token", got.Identity != nil)
	}
	store.SetSessionUser(ctx, nu)
}
