package handlers

import (
	"context"
	"errors"
	"net/http"

	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/store"
)

// LogoutTokenVerifier checks a back-channel logout token (auth.RP).
type LogoutTokenVerifier interface {
	VerifyLogoutToken(ctx context.Context, raw string) (*auth.LogoutToken, error)
}

// maxLogoutTokenBytes bounds the form an IdP posts: a signed JWT of a few claims.
const maxLogoutTokenBytes = 16 << 10

// BackchannelLogout is the IdP's server-to-server POST (OpenID Connect Back-Channel
// Logout 1.0): a valid, unseen logout token ends the sessions of its sid or sub on
// every instance (200); a bad or replayed one is 400 and ends nothing; a database
// failure is 500, so the IdP may try again. It answers machines: no page, no session.
func (h *Handlers) BackchannelLogout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	refuse := func(reason string, err error) {
		// The reason names the failed check; the token itself is never logged.
		h.Log.InfoContext(r.Context(), "back-channel logout refused", "reason", reason, "error", err)
		h.audit(r, store.AuditEvent{Action: store.AuditIdPLogoutRefused, Outcome: store.OutcomeDenied, Detail: reason})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_request"}` + "\n"))
	}
	if h.LogoutTokens == nil {
		http.Error(w, "back-channel logout is not configured", http.StatusNotFound)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLogoutTokenBytes)
	if err := r.ParseForm(); err != nil {
		refuse("unreadable form", err)
		return
	}
	raw := r.PostForm.Get("logout_token")
	tok, err := h.LogoutTokens.VerifyLogoutToken(r.Context(), raw)
	if errors.Is(err, auth.ErrNotReady) {
		h.Log.WarnContext(r.Context(), "back-channel logout before OIDC discovery succeeded")
		http.Error(w, "identity provider not reachable yet", http.StatusServiceUnavailable)
		return
	}
	if err != nil {
		refuse("token not valid", err)
		return
	}
	// The IdP's call must finish once it arrived: ending sessions is not cancelled with
	// the IdP's connection.
	ctx := context.WithoutCancel(r.Context())
	n, err := h.SessionControl.EndAtIdPLogout(ctx, store.IdPLogout{Issuer: tok.Issuer, Subject: tok.Subject,
		SID: tok.SID, JTI: tok.JTI, JTIExpiry: tok.ReplayUntil})
	if errors.Is(err, store.ErrLogoutReplayed) {
		refuse("jti replayed", err)
		return
	}
	if err != nil {
		h.Log.ErrorContext(r.Context(), "back-channel logout failed", "error", err)
		http.Error(w, "not done; try again", http.StatusInternalServerError)
		return
	}
	h.Log.InfoContext(r.Context(), "back-channel logout accepted", "sessions_ended", n)
	w.WriteHeader(http.StatusOK)
}
