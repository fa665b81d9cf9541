package handlers

import (
	"net/http"

	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/views"
)

// Unlock asks Seam to unlock the user's device.
func (h *Handlers) Unlock(w http.ResponseWriter, r *http.Request) error {
	res, err := h.Locks.Unlock(r.Context(), currentUser(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return h.respondAction(w, r, res)
}

// Lock asks Seam to lock the user's device.
func (h *Handlers) Lock(w http.ResponseWriter, r *http.Request) error {
	res, err := h.Locks.Lock(r.Context(), currentUser(r), r.PathValue("id"))
	if err != nil {
		return err
	}
	return h.respondAction(w, r, res)
}

// respondAction answers a lock/unlock: htmx gets the status fragment that polls; a
// plain form (or the boosted one of the confirmation page) gets a 303 to the device
// page, which shows the same status.
func (h *Handlers) respondAction(w http.ResponseWriter, r *http.Request, res locks.Result) error {
	if wantsFragment(r) {
		h.render(w, r, http.StatusOK, views.ActionStatus(actionFragment(res.Attempt, h.Now(), h.clockOf(r))))
		return nil
	}
	verb := map[string]string{store.ActionUnlock: "Unlock", store.ActionLock: "Lock"}[res.Attempt.Action]
	msg := verb + " requested for " + locks.DeviceName(res.Device) + ". The result shows below."
	if res.Existing {
		msg = "That " + res.Attempt.Action + " of " + locks.DeviceName(res.Device) + " is already in progress. The result shows below."
	}
	auth.SetFlash(r.Context(), h.Sessions, msg)
	http.Redirect(w, r, deviceView(res.Device).URL, http.StatusSeeOther)
	return nil
}

// ActionStatus answers the poll for one action, to the user who started it only.
func (h *Handlers) ActionStatus(w http.ResponseWriter, r *http.Request) error {
	a, err := h.Locks.Action(r.Context(), currentUser(r), r.PathValue("id"), r.PathValue("attempt"))
	if err != nil {
		return err
	}
	if !wantsFragment(r) {
		http.Redirect(w, r, actionView(a, h.Now(), h.clockOf(r)).DeviceURL, http.StatusSeeOther)
		return nil
	}
	h.render(w, r, http.StatusOK, views.ActionStatus(actionFragment(a, h.Now(), h.clockOf(r))))
	return nil
}
