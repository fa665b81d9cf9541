package handlers

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/views"
)

// Live-stream bounds.
const (
	// streamHeartbeat is how often an idle stream says it is alive, and re-checks its
	// session, unless Handlers.StreamHeartbeat says otherwise.
	streamHeartbeat = 15 * time.Second
	// streamWriteTimeout bounds each write of a stream; the server's WriteTimeout does
	// not apply to streams.
	streamWriteTimeout = 10 * time.Second
	// maxStreamsPerUser bounds one user's open streams on one instance (tabs).
	maxStreamsPerUser = 10
)

// LiveEvents is GET /events: the signed-in page's Server-Sent Events stream. It carries
// only this user's devices' changes, as htmx out-of-band fragments (event "change"),
// and ends with an "sse-close" event when the session ends (sign-out, expiry) or the
// server shuts down, so the browser stops reconnecting. Without a valid session it is
// 401 — no redirect to sign-in. It reads the session without extending it.
func (h *Handlers) LiveEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	user, ok := auth.UserFrom(ctx)
	w.Header().Set("Cache-Control", "no-store")
	if !ok || h.Live == nil {
		http.Error(w, "sign in to receive live updates", http.StatusUnauthorized)
		return
	}
	if h.Live.Count(user.ID) >= maxStreamsPerUser {
		w.Header().Set("Retry-After", "30")
		http.Error(w, "too many live pages open", http.StatusTooManyRequests)
		return
	}
	sub := h.Live.Subscribe(user.ID)
	defer sub.Close()
	key, token := auth.SessionKey(r), auth.SessionToken(r)

	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(event, data string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		var b strings.Builder
		if event != "" {
			b.WriteString("event: " + event + "\n")
		}
		for _, line := range strings.Split(data, "\n") {
			b.WriteString("data: " + line + "\n")
		}
		b.WriteString("\n")
		if _, err := w.Write([]byte(b.String())); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	closeStream := func() { send("sse-close", "bye") }
	if !send("", "connected") {
		return
	}
	heartbeat := time.NewTicker(cmp.Or(h.StreamHeartbeat, streamHeartbeat))
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-heartbeat.C:
			if !auth.SessionAlive(ctx, h.Sessions, token, h.SessionIdleTimeout, h.Now()) {
				closeStream()
				return
			}
			_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
			if _, err := w.Write([]byte(": ping\n\n")); err != nil || rc.Flush() != nil {
				return
			}
		case <-sub.Signal:
			devices, ended, closed := sub.Take()
			if closed || ended[key] {
				closeStream()
				return
			}
			if len(devices) == 0 {
				continue
			}
			html, err := h.liveFragments(ctx, user, h.clockOf(r), devices)
			if err != nil {
				h.Log.WarnContext(ctx, "live update", "error", err)
				continue
			}
			if html != "" && !send("change", html) {
				return
			}
		}
	}
}

// liveFragments renders what changed for the user's open pages. "All devices" (a sync)
// means every device the user has now, and still each device named beside it: changes
// arrive coalesced, and a device named because it left the copy (its account removed)
// is not among the user's devices any more, yet must be taken off the page.
func (h *Handlers) liveFragments(ctx context.Context, user store.User, clock views.Clock, deviceIDs []string) (string, error) {
	var ids []string
	if slices.Contains(deviceIDs, events.AllDevices) {
		devices, err := h.Locks.Devices(ctx, user.ID)
		if err != nil {
			return "", err
		}
		for _, d := range devices {
			ids = append(ids, d.DeviceID)
		}
	}
	for _, id := range deviceIDs {
		if id != events.AllDevices && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	var buf bytes.Buffer
	for _, id := range ids {
		d, err := h.Locks.CopiedDeviceQuietly(ctx, user, id)
		if errors.Is(err, locks.ErrNotOwned) {
			if err := views.LiveRemoved(id).Render(ctx, &buf); err != nil {
				return "", err
			}
			continue
		}
		if err != nil {
			return "", fmt.Errorf("live device %s: %w", id, err)
		}
		page, err := h.devicePage(ctx, user, d, clock, trailFilters{})
		if err != nil {
			return "", err
		}
		if err := views.LiveDevice(page.Device, &page).Render(ctx, &buf); err != nil {
			return "", err
		}
	}
	return buf.String(), nil
}
