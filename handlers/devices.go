package handlers

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/views"
)

// maxQueryLen bounds the name filter.
const maxQueryLen = 100

// Devices lists the signed-in user's devices, filtered by name with ?q=.
func (h *Handlers) Devices(w http.ResponseWriter, r *http.Request) error {
	user := currentUser(r)
	list, status, err := h.deviceList(r.Context(), w.Header(), user, r.URL.Query().Get("q"), h.clockOf(r))
	if err != nil {
		return err
	}
	list.BaseURL = "/devices"
	if isHTMX(r) && r.Header.Get("HX-Target") == "device-list" {
		h.render(w, r, status, views.DeviceListUpdate(list))
		return nil
	}
	p := h.page(r, "Your devices")
	if slices.ContainsFunc(list.Devices, func(d views.Device) bool { return d.Action.Pending() }) {
		p.Refresh = pendingRefresh
	}
	h.render(w, r, status, views.DevicesPage(p, list))
	return nil
}

// deviceList builds the device list of a user. A Seam outage or rate limit is shown
// on the page (with its status, and Retry-After in header) rather than as an error
// page, so the rest of the page and the way to retry stay in view.
func (h *Handlers) deviceList(ctx context.Context, header http.Header, user store.User, query string, clock views.Clock) (views.DeviceList, int, error) {
	query = strings.TrimSpace(query)
	if len(query) > maxQueryLen {
		query = query[:maxQueryLen]
	}
	list := views.DeviceList{Query: query}
	now := h.Now()
	dl, err := h.Locks.DeviceList(ctx, user, now.Add(-recentActionWindow))
	var service *locks.ErrLockService
	if errors.As(err, &service) {
		page := pageFor(err)
		h.Log.WarnContext(ctx, "device list unavailable", "error", err)
		list.Unavailable = page.Message
		for k, vs := range page.Header {
			header[k] = vs
		}
		return list, page.Status, nil
	}
	if err != nil {
		return list, 0, err
	}
	devices, latest, allowance := dl.Devices, dl.Latest, dl.Allowance
	list.Total = len(devices)
	q := strings.ToLower(query)
	shown := make([]views.Device, 0, len(devices))
	keys := make([]string, 0, len(devices)) // the sort key of each shown device
	for _, d := range devices {
		v := deviceView(d)
		if q != "" && !strings.Contains(strings.ToLower(v.Name+" "+v.Model+" "+v.Manufacturer), q) {
			continue
		}
		if a, ok := latest[d.DeviceID]; ok {
			v.Action = actionView(a, now, clock)
		}
		withControls(&v, d, allowance)
		shown = append(shown, v)
		keys = append(keys, strings.ToLower(v.Name))
	}
	// By name, case-insensitively; each key lowered once, and the (large) device views
	// moved once rather than at every step of the sort.
	order := make([]int, len(shown))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(keys[a], keys[b]) })
	if len(shown) > 0 {
		list.Devices = make([]views.Device, len(shown))
		for i, j := range order {
			list.Devices[i] = shown[j]
		}
	}
	return list, http.StatusOK, nil
}

// recentActionWindow is how long a finished action stays shown beside its device.
const recentActionWindow = 5 * time.Minute

// Device shows one device: status, capabilities, problems and a page of its activity.
func (h *Handlers) Device(w http.ResponseWriter, r *http.Request) error {
	user := currentUser(r)
	d, err := h.Locks.CopiedDevice(r.Context(), user, r.PathValue("id"))
	if err != nil {
		return err
	}
	f := parseTrailFilters(r, false, true)
	if f.notice != "" {
		h.Log.InfoContext(r.Context(), "device activity query ignored", "query", r.URL.RawQuery)
	}
	page, err := h.devicePage(r.Context(), user, d, h.clockOf(r), f)
	if err != nil {
		return err
	}
	page.Activity.Notice = f.notice
	p := h.page(r, page.Device.Name)
	if page.Device.Action.Pending() {
		p.Refresh = pendingRefresh
	}
	h.render(w, r, http.StatusOK, views.DevicePage(p, page))
	return nil
}

// pendingRefresh is how often, in seconds, a page with something pending reloads
// itself in a browser without JavaScript.
const pendingRefresh = 3

// devicePage is the device page at a page of its activity. The newest page also shows
// the lock's own recent history from Seam, and is the one live updates replace.
func (h *Handlers) devicePage(ctx context.Context, user store.User, d seam.Device, clock views.Clock, f trailFilters) (views.DeviceDetail, error) {
	userID := user.ID
	v := deviceView(d)
	now := h.Now()
	attempts, err := h.Locks.RecentActions(ctx, userID, d.DeviceID, 1)
	if err != nil {
		return views.DeviceDetail{}, err
	}
	if len(attempts) == 1 && now.Sub(attempts[0].CreatedAt) < recentActionWindow {
		v.Action = actionView(attempts[0], now, clock)
	}
	allowance, err := h.Locks.ActionAllowance(ctx, userID)
	if err != nil {
		return views.DeviceDetail{}, err
	}
	withControls(&v, d, allowance)
	page := views.DeviceDetail{Device: v, Rename: renameForm(v)}
	names := map[string]string{d.DeviceID: v.Name}
	f.device = d.DeviceID
	list, err := h.trailList(ctx, userID, f, names, clock, v.URL)
	if err != nil {
		return page, err
	}
	// The device is in the page's address already.
	list.OlderURL, list.NewerURL, list.NewestURL = dropDeviceParam(list.OlderURL), dropDeviceParam(list.NewerURL), dropDeviceParam(list.NewestURL)
	list.Filter = &views.ActivityFilter{Action: v.URL, Outcome: f.outcome, Outcomes: outcomeOptions, OneDevice: true}
	// The newest page unfiltered is the one live updates replace, and the one with the
	// lock's own history from Seam (its events are the lock's, not actions with an
	// outcome, so an outcome filter leaves them out).
	if f.cursor == (trailCursor{}) && f.outcome == "" {
		list.LiveID = "activity-" + d.DeviceID
		seamEvents, err := h.Locks.LockHistory(ctx, user, d.DeviceID, 20)
		if err != nil {
			h.Log.WarnContext(ctx, "device events unavailable", "device_id", d.DeviceID, "error", err)
			page.EventsUnavailable = true
		}
		// Seam's events as far back as this page goes (all of them when it is the only page).
		var oldest time.Time
		if list.OlderURL != "" && len(list.Entries) > 0 {
			oldest = list.Entries[len(list.Entries)-1].Time
		}
		// Seam's event of an action of ours is that action's outcome, which its entry
		// already says: one entry per action.
		ours := map[string]bool{}
		for _, e := range list.Entries {
			if e.SeamAttemptID != "" {
				ours[e.SeamAttemptID] = true
			}
		}
		for _, e := range seamEvents {
			if e.ActionAttemptID != "" && ours[e.ActionAttemptID] {
				continue
			}
			if !e.OccurredAt.Before(oldest) {
				list.Entries = append(list.Entries, seamEventEntry(e, v.Name, clock))
			}
		}
		// Newest first. Within one second (an unlock and its result often are) the order
		// is the one things happened in, not "ours first".
		slices.SortStableFunc(list.Entries, func(a, b views.ActivityEntry) int { return b.Time.Compare(a.Time) })
	}
	page.Activity = list
	return page, nil
}

// dropDeviceParam takes the (empty) filters out of a device page's link.
func dropDeviceParam(u string) string {
	path, query, ok := strings.Cut(u, "?")
	if !ok {
		return u
	}
	v, err := url.ParseQuery(query)
	if err != nil {
		return u
	}
	v.Del("device")
	return withQuery(path, v)
}

// ConfirmUnlock is the no-JavaScript confirmation page for an unlock. It refuses, as
// the POST would, when the unlock could not be started now.
func (h *Handlers) ConfirmUnlock(w http.ResponseWriter, r *http.Request) error {
	d, err := h.Locks.ConfirmAction(r.Context(), currentUser(r), r.PathValue("id"), store.ActionUnlock)
	if err != nil {
		return err
	}
	v := deviceView(d)
	h.render(w, r, http.StatusOK, views.ConfirmUnlockPage(h.page(r, "Unlock "+v.Name+"?"), v))
	return nil
}
