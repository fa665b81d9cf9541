package handlers

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/latchkey/latchkey/events"
)

// EventReceiver takes Seam's signed webhook deliveries in (events.Service).
type EventReceiver interface {
	Receive(ctx context.Context, payload []byte, header http.Header) error
}

// SeamWebhook is Seam's webhook endpoint (Svix scheme): a delivery whose signature is
// missing, wrong or stale is 401; one stored (or seen before) is 204 at once, applied
// in the background; a database failure is 500, so Svix delivers it again later. It
// answers machines, so its answers have no page.
func (h *Handlers) SeamWebhook(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if h.Events == nil {
		http.Error(w, "webhooks are not configured", http.StatusNotFound)
		return
	}
	payload, err := io.ReadAll(r.Body)
	if err != nil {
		h.Log.InfoContext(r.Context(), "webhook body unreadable", "error", err)
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	err = h.Events.Receive(r.Context(), payload, r.Header)
	switch {
	case errors.Is(err, events.ErrBadSignature):
		h.Log.InfoContext(r.Context(), "webhook refused", "svix_id", r.Header.Get("svix-id"), "error", err)
		http.Error(w, "invalid signature", http.StatusUnauthorized)
	case err != nil:
		h.Log.ErrorContext(r.Context(), "webhook not stored", "svix_id", r.Header.Get("svix-id"), "error", err)
		http.Error(w, "not stored; deliver again later", http.StatusInternalServerError)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
