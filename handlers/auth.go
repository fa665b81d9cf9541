package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/store"
)

// SignInProvider runs the OpenID Connect flow.
type SignInProvider interface {
	Begin(w http.ResponseWriter, r *http.Request, returnTo string) (string, error)
	BeginReauth(w http.ResponseWriter, r *http.Request, returnTo string) (string, error)
	Finish(w http.ResponseWriter, r *http.Request) (*auth.Identity, string, error)
	EndSessionURL(idTokenHint string) (string, bool)
}

// UserStore keeps the users who signed in.
type UserStore interface {
	UpsertUserAtLogin(ctx context.Context, l store.Login, now time.Time) (store.User, error)
}

// errCallbackFailed marks a failed sign-in callback, so its page offers to sign in again.
var errCallbackFailed = errors.New("sign-in callback failed")

// Login starts the OpenID Connect flow (303 to the IdP). A signed-in user goes straight
// to where they were heading, unless reauth=1 (step-up before an unlock): then the IdP
// is asked to authenticate them again (max_age=0, prompt=login). Whoever signs in then
// gets a fresh session, replacing the old one.
func (h *Handlers) Login(w http.ResponseWriter, r *http.Request) error {
	returnTo := auth.SafeReturnTo(r.URL.Query().Get("return_to"))
	reauth := r.URL.Query().Get("reauth") == "1"
	if _, ok := auth.UserFrom(r.Context()); ok && !reauth {
		http.Redirect(w, r, orDefault(returnTo, "/devices"), http.StatusSeeOther)
		return nil
	}
	begin := h.SignIn.Begin
	if reauth {
		begin = h.SignIn.BeginReauth
	}
	target, err := begin(w, r, returnTo)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusSeeOther)
	return nil
}

// Callback finishes the OpenID Connect flow: verified identity → user record → fresh
// session → 303 to return_to or /devices.
func (h *Handlers) Callback(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	id, returnTo, err := h.SignIn.Finish(w, r)
	if err != nil {
		h.audit(r, store.AuditEvent{Action: store.AuditCallbackFailed, Outcome: store.OutcomeFailure, Detail: err.Error()})
		return fmt.Errorf("%w: %w", errCallbackFailed, err)
	}
	u, err := h.Store.UpsertUserAtLogin(r.Context(), store.Login{
		Issuer: id.Issuer, Subject: id.Subject, Email: id.Email, EmailVerified: id.EmailVerified,
		Name: id.Name, IsAdmin: id.IsAdmin,
	}, h.Now())
	if err != nil {
		return err
	}
	if u.Disabled() {
		// No session: the IdP knows them, Latchkey does not let them in.
		h.audit(r, store.AuditEvent{ActorID: u.ID, SubjectUserID: u.ID, Action: store.AuditLoginRefusedDisabled, Outcome: store.OutcomeDenied})
		h.Log.InfoContext(r.Context(), "sign-in refused: account disabled", "user_id", u.ID)
		return h.errAccountDisabled()
	}
	if err := auth.SignIn(r.Context(), h.Sessions, u.ID, id.RawIDToken); err != nil {
		return err
	}
	auth.RememberIdPSession(r.Context(), h.Sessions, id)
	h.audit(r, store.AuditEvent{ActorID: u.ID, SubjectUserID: u.ID, Action: store.AuditLogin, Outcome: store.OutcomeSuccess,
		Detail: adminDetail(u.IsAdmin)})
	h.Log.InfoContext(r.Context(), "signed in", "user_id", u.ID, "admin", u.IsAdmin)
	http.Redirect(w, r, orDefault(returnTo, "/devices"), http.StatusSeeOther)
	return nil
}

// signedOutMessage confirms a sign-out on the front page.
const signedOutMessage = "You have signed out."

// signedOutCookie carries the confirmation to the front page, also through the IdP's
// own sign-out. It is a plain marker, not a session: the session cookie is deleted.
const signedOutCookie = "latchkey_signed_out"

func (h *Handlers) markSignedOut(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: signedOutCookie, Value: "1", Path: "/", MaxAge: 300,
		HttpOnly: true, Secure: h.Sessions != nil && h.Sessions.Cookie.Secure, SameSite: http.SameSiteLaxMode})
}

// justSignedOut reports whether the browser comes from a sign-out, and forgets it.
func (h *Handlers) justSignedOut(w http.ResponseWriter, r *http.Request) bool {
	if _, err := r.Cookie(signedOutCookie); err != nil {
		return false
	}
	http.SetCookie(w, &http.Cookie{Name: signedOutCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.Sessions != nil && h.Sessions.Cookie.Secure, SameSite: http.SameSiteLaxMode})
	return true
}

// Logout ends the session, then asks the IdP to end its own when it supports that. With
// everywhere=1 ("Sign out everywhere") every other session of the user's ends too.
func (h *Handlers) Logout(w http.ResponseWriter, r *http.Request) error {
	u, signedIn := auth.UserFrom(r.Context())
	everywhere := signedIn && r.PostFormValue("everywhere") == "1"
	if everywhere {
		if err := h.SessionControl.SignOutEverywhere(r.Context(), u); err != nil {
			return err
		}
	}
	key := auth.SessionKey(r)
	idToken, err := auth.SignOut(r.Context(), h.Sessions)
	if err != nil {
		return err
	}
	if signedIn && key != "" {
		// The session's open pages stop their live streams.
		h.Live.SessionEnded(u.ID, key)
	}
	if !signedIn {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	if !everywhere { // SignOutEverywhere audited its own
		h.audit(r, store.AuditEvent{ActorID: u.ID, SubjectUserID: u.ID, Action: store.AuditLogout, Outcome: store.OutcomeSuccess})
	}
	h.markSignedOut(w)
	if target, ok := h.SignIn.EndSessionURL(idToken); ok {
		http.Redirect(w, r, target, http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

func adminDetail(isAdmin bool) string {
	if isAdmin {
		return "signed in as admin"
	}
	return ""
}
