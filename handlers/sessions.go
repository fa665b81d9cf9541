package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/views"
)

// Pages of the session and account-access use cases.
var (
	errSessionGone = errNotFound
	errDisableSelf = &Error{Status: http.StatusConflict, Title: "You cannot disable your own account",
		Message: "Another admin can disable it if needed."}
)

// errAccountDisabled is the page of a refused sign-in, naming whom to contact.
func (h *Handlers) errAccountDisabled() *Error {
	contact := h.SupportContact
	if contact == "" {
		contact = "the people who run this portal"
	}
	return &Error{Status: http.StatusForbidden, Title: "Your account is disabled",
		Message: "An administrator disabled your Latchkey account, so you cannot sign in. Contact " + contact + " to have it enabled again."}
}

// SessionsPage is GET /sessions: every session of the user's, this one marked.
func (h *Handlers) SessionsPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	user := currentUser(r)
	list, err := h.SessionControl.List(ctx, user, h.Sessions.Token(ctx))
	if err != nil {
		return err
	}
	clock := h.clockOf(r)
	rows := make([]views.SessionRow, 0, len(list))
	for _, s := range list {
		row := views.SessionRow{
			Client:    clientSummary(s.UserAgent),
			UserAgent: s.UserAgent,
			Address:   s.ClientAddr,
			Current:   s.Current,
		}
		row.Started, row.StartedISO = whenAndISO(clock, s.CreatedAt, "before this release")
		row.LastSeen, row.LastSeenISO = whenAndISO(clock, s.LastSeenAt, "unknown")
		if s.PublicID != "" {
			row.EndURL = "/sessions/" + url.PathEscape(s.PublicID) + "/end"
		}
		rows = append(rows, row)
	}
	h.render(w, r, http.StatusOK, views.SessionsPage(h.page(r, "Your sessions"), rows))
	return nil
}

// EndSession is POST /sessions/{id}/end: one of the user's sessions ends. Another
// user's session is the 404 page, and ends nothing. Ending this very session signs out.
func (h *Handlers) EndSession(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	user := currentUser(r)
	current, err := h.SessionControl.End(ctx, user, r.PathValue("id"), h.Sessions.Token(ctx))
	if errors.Is(err, accounts.ErrSessionNotFound) {
		return errSessionGone
	}
	if err != nil {
		return err
	}
	if current {
		if _, err := auth.SignOut(ctx, h.Sessions); err != nil {
			return err
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	auth.SetFlash(ctx, h.Sessions, "Session ended: it is signed out.")
	http.Redirect(w, r, "/sessions", http.StatusSeeOther)
	return nil
}

// EndOtherSessions is POST /sessions/end-others: every session but this one ends.
func (h *Handlers) EndOtherSessions(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	n, err := h.SessionControl.EndOthers(ctx, currentUser(r), h.Sessions.Token(ctx))
	if err != nil {
		return err
	}
	msg := "No other session was open."
	switch {
	case n == 1:
		msg = "Signed out 1 other session."
	case n > 1:
		msg = fmt.Sprintf("Signed out %d other sessions.", n)
	}
	auth.SetFlash(ctx, h.Sessions, msg)
	http.Redirect(w, r, "/sessions", http.StatusSeeOther)
	return nil
}

// adminTarget is the user named by the admin URL's {id}, or the 404 page.
func (h *Handlers) adminTarget(r *http.Request) (store.User, error) {
	id := r.PathValue("id")
	if uuid.Validate(id) != nil {
		return store.User{}, errNotFound
	}
	u, err := h.Store.UserByID(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, errNotFound
	}
	return u, err
}

// adminAccess is what the admin pages show of a user's access and sessions.
func (h *Handlers) adminAccess(r *http.Request, admin, target store.User) (views.AdminUserAccess, error) {
	base := "/admin/users/" + url.PathEscape(target.ID)
	a := views.AdminUserAccess{
		Name:           orDefault(target.Name, target.Email),
		Disabled:       target.Disabled(),
		Self:           admin.ID == target.ID,
		UserURL:        base,
		EndSessionsURL: base + "/end-sessions",
		DisableURL:     base + "/disable",
		EnableURL:      base + "/enable",
	}
	if target.DisabledAt != nil {
		a.DisabledAt, a.DisabledAtISO = whenAndISO(h.clockOf(r), *target.DisabledAt, "")
		return a, nil
	}
	sessions, err := h.SessionControl.List(r.Context(), target, "")
	if err != nil {
		return a, err
	}
	a.Sessions = len(sessions)
	return a, nil
}

// AdminEndSessions is POST /admin/users/{id}/end-sessions: every session of the user's
// ends, on every instance.
func (h *Handlers) AdminEndSessions(w http.ResponseWriter, r *http.Request) error {
	target, err := h.adminTarget(r)
	if err != nil {
		return err
	}
	n, err := h.SessionControl.EndAllOf(r.Context(), currentUser(r), target.ID)
	if err != nil {
		return err
	}
	auth.SetFlash(r.Context(), h.Sessions, fmt.Sprintf("Ended %s of %s.", plural(n, "session"), orDefault(target.Name, target.Email)))
	http.Redirect(w, r, "/admin/users/"+url.PathEscape(target.ID), http.StatusSeeOther)
	return nil
}

// ConfirmDisableUser is GET /admin/users/{id}/disable: the confirmation page.
func (h *Handlers) ConfirmDisableUser(w http.ResponseWriter, r *http.Request) error {
	target, err := h.adminTarget(r)
	if err != nil {
		return err
	}
	admin := currentUser(r)
	if target.ID == admin.ID {
		return errDisableSelf
	}
	if target.Disabled() {
		http.Redirect(w, r, "/admin/users/"+url.PathEscape(target.ID), http.StatusSeeOther)
		return nil
	}
	a, err := h.adminAccess(r, admin, target)
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, views.ConfirmDisablePage(h.page(r, "Disable "+a.Name), a))
	return nil
}

// DisableUser is POST /admin/users/{id}/disable: the user's sessions end at once and
// they can neither sign in nor act on their locks.
func (h *Handlers) DisableUser(w http.ResponseWriter, r *http.Request) error {
	target, err := h.adminTarget(r)
	if err != nil {
		return err
	}
	u, err := h.SessionControl.Disable(r.Context(), currentUser(r), target.ID)
	if errors.Is(err, accounts.ErrDisableSelf) {
		return errDisableSelf
	}
	if errors.Is(err, accounts.ErrUserNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	auth.SetFlash(r.Context(), h.Sessions, orDefault(u.Name, u.Email)+" is disabled: every session of theirs has ended.")
	http.Redirect(w, r, "/admin/users/"+url.PathEscape(u.ID), http.StatusSeeOther)
	return nil
}

// EnableUser is POST /admin/users/{id}/enable: the user may sign in again.
func (h *Handlers) EnableUser(w http.ResponseWriter, r *http.Request) error {
	target, err := h.adminTarget(r)
	if err != nil {
		return err
	}
	u, err := h.SessionControl.Enable(r.Context(), currentUser(r), target.ID)
	if errors.Is(err, accounts.ErrUserNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	auth.SetFlash(r.Context(), h.Sessions, orDefault(u.Name, u.Email)+" is enabled: they can sign in again.")
	http.Redirect(w, r, "/admin/users/"+url.PathEscape(u.ID), http.StatusSeeOther)
	return nil
}

// whenAndISO is a time as pages show it and for <time datetime>; unknown for zero.
func whenAndISO(clock views.Clock, t time.Time, unknown string) (string, string) {
	if t.IsZero() {
		return unknown, ""
	}
	return clock.DateTime(t), views.ISO(t)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
