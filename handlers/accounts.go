package handlers

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/latchkey/latchkey/accounts"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/views"
)

// accountErrorWords are Seam's account-level error codes in words.
var accountErrorWords = map[string]string{
	"account_disconnected":                 "The provider signed Latchkey out; reconnect to keep using these locks.",
	"invalid_credentials":                  "The provider no longer accepts the saved sign-in; reconnect with your current password.",
	"bridge_disconnected":                  "The provider's bridge or hub is offline; check that it is powered and online, then reconnect if it stays so.",
	"salto_ks_subscription_limit_exceeded": "The Salto KS subscription has reached its limit of locks; raise it with Salto, then reconnect.",
	"dormakaba_sites_disconnected":         "The dormakaba sites are no longer connected; reconnect to keep using these locks.",
}

// accountGoneWords explain an account the lock service no longer has.
const accountGoneWords = "The lock service no longer has this account. Remove it here; you can connect it again."

// AccountsIndex lists the user's lock accounts with provider, login, status and locks.
func (h *Handlers) AccountsIndex(w http.ResponseWriter, r *http.Request) error {
	list, err := h.Accounts.Accounts(r.Context(), currentUser(r))
	if err != nil {
		return err
	}
	v := views.AccountsOverview{Unavailable: list.Unavailable}
	for _, a := range list.Accounts {
		v.Accounts = append(v.Accounts, accountCard(a, h.clockOf(r)))
	}
	h.render(w, r, http.StatusOK, views.AccountsPage(h.page(r, "Lock accounts"), v))
	return nil
}

// ReconnectAccount starts a Connect Webview for the provider of one of the user's
// accounts and sends the browser to it.
func (h *Handlers) ReconnectAccount(w http.ResponseWriter, r *http.Request) error {
	wv, err := h.Accounts.Reconnect(r.Context(), currentUser(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	http.Redirect(w, r, connectWindowURL(wv.ID), http.StatusSeeOther)
	return nil
}

// ConfirmRemoveAccount asks before removing an account, naming its locks.
func (h *Handlers) ConfirmRemoveAccount(w http.ResponseWriter, r *http.Request) error {
	a, err := h.Accounts.Account(r.Context(), currentUser(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	card := accountCard(a, h.clockOf(r))
	h.render(w, r, http.StatusOK, views.RemoveAccountPage(h.page(r, "Remove "+card.Provider+" account"), card))
	return nil
}

// RemoveAccount removes an account at Seam and in Latchkey, then goes back to the list.
func (h *Handlers) RemoveAccount(w http.ResponseWriter, r *http.Request) error {
	removed, err := h.Accounts.Remove(r.Context(), currentUser(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	auth.SetFlash(r.Context(), h.Sessions, "Removed your "+removed.Name+" and its "+lockCount(len(removed.Devices))+".")
	http.Redirect(w, r, "/accounts", http.StatusSeeOther)
	return nil
}

// accountCard is an account as the pages show it.
func accountCard(a accounts.Account, clock views.Clock) views.AccountCard {
	base := "/accounts/" + url.PathEscape(a.ID)
	c := views.AccountCard{
		ID:           a.ID,
		Provider:     firstNonEmpty(a.ProviderName, "Lock account "+shortID(a.ID)),
		Login:        a.Login,
		Gone:         a.Gone,
		Connected:    clock.DateTime(a.CreatedAt),
		ConnectedISO: views.ISO(a.CreatedAt),
		ReconnectURL: base + "/reconnect",
		RemoveURL:    base + "/remove",
	}
	switch {
	case a.Gone:
		c.Reason = accountGoneWords
	case len(a.Errors) > 0:
		c.NeedsReconnect = true
		c.Reason = accountErrorText(a.Errors[0])
	}
	for _, d := range a.Devices {
		c.Locks = append(c.Locks, views.Link{Label: locks.DeviceName(d), URL: "/devices/" + url.PathEscape(d.DeviceID)})
	}
	// By name, as the device list orders them.
	slices.SortStableFunc(c.Locks, func(x, y views.Link) int {
		return cmp.Compare(strings.ToLower(x.Label), strings.ToLower(y.Label))
	})
	return c
}

// accountErrorText is an account's problem in words: ours for the codes we know, else
// Seam's message, else the code spelled out.
func accountErrorText(e seam.DeviceError) string {
	if w, ok := accountErrorWords[e.ErrorCode]; ok {
		return w
	}
	if e.Message != "" {
		return "The lock service said: " + e.Message
	}
	return "The lock service reports a problem with this account (" + strings.ReplaceAll(e.ErrorCode, "_", " ") + "); reconnecting may fix it."
}

// RenameDevice renames the user's device. htmx gets the form back in place (and the
// heading, out of band); a plain form gets a 303 back to the device page with a
// confirmation. A refused name is the form with the reason (422).
func (h *Handlers) RenameDevice(w http.ResponseWriter, r *http.Request) error {
	user := currentUser(r)
	id := r.PathValue("id")
	raw := r.PostFormValue("name")
	d, err := h.Locks.Rename(r.Context(), user, id, raw)
	var invalid *locks.ErrInvalidName
	if errors.As(err, &invalid) {
		current, cerr := h.Locks.CopiedDevice(r.Context(), user, id)
		if cerr != nil {
			return cerr
		}
		form := renameForm(deviceView(current))
		form.Name, form.Error = raw, invalid.Reason
		if isHTMX(r) {
			h.render(w, r, http.StatusUnprocessableEntity, views.RenameDeviceForm(form))
			return nil
		}
		return &Error{Status: http.StatusUnprocessableEntity, Title: "That name cannot be used", Message: invalid.Reason,
			Actions: []views.Link{{Label: "Back to " + locks.DeviceName(current), URL: deviceView(current).URL}}}
	}
	if err != nil {
		return err
	}
	v := deviceView(d)
	done := "Renamed to " + v.Name + "."
	if !isHTMX(r) {
		auth.SetFlash(r.Context(), h.Sessions, done)
		http.Redirect(w, r, v.URL, http.StatusSeeOther)
		return nil
	}
	form := renameForm(v)
	form.Done = done
	h.render(w, r, http.StatusOK, views.RenameFragment(form, v))
	return nil
}

// renameForm is the device page's rename form for d.
func renameForm(d views.Device) views.RenameForm {
	return views.RenameForm{DeviceID: d.ID, URL: d.URL + "/rename", Name: d.Name}
}
