package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/views"
)

// activityPageSize is how many entries one activity page shows.
const activityPageSize = 25

// outcomeOptions are the outcome filter's choices.
var outcomeOptions = []views.Option{
	{Value: store.TrailSucceeded, Label: "Succeeded"},
	{Value: store.TrailFailed, Label: "Failed"},
	{Value: store.TrailUnknown, Label: "Outcome unknown"},
	{Value: store.TrailNotSent, Label: "Not sent"},
	{Value: store.TrailRefused, Label: "Refused"},
	{Value: store.TrailInProgress, Label: "In progress"},
}

// trailCursor is a page of a trail: entries older than Before, or newer than After;
// neither is the newest page.
type trailCursor struct{ Before, After int64 }

// trailFilters are an activity page's query: the cursor and the filters, each
// validated; what was not understood is ignored and said in notice.
type trailFilters struct {
	cursor  trailCursor
	device  string
	outcome string
	notice  string
}

// parseTrailFilters reads a trail page's query; byDevice and byOutcome say which
// filters the page offers (the device page filters by outcome only).
func parseTrailFilters(r *http.Request, byDevice, byOutcome bool) trailFilters {
	q := r.URL.Query()
	var f trailFilters
	bad := false
	cursor := func(name string) int64 {
		s := q.Get(name)
		if s == "" {
			return 0
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			bad = true
			return 0
		}
		return n
	}
	f.cursor.Before = cursor("before")
	if f.cursor.Before == 0 {
		f.cursor.After = cursor("after")
	}
	if d := q.Get("device"); d != "" && byDevice {
		if locks.ValidDeviceID(d) {
			f.device = d
		} else {
			bad = true
		}
	}
	if o := q.Get("outcome"); o != "" && byOutcome {
		if store.ValidTrailOutcome(o) {
			f.outcome = o
		} else {
			bad = true
		}
	}
	if bad {
		f.notice = "Part of this page's address was not understood and was ignored."
	}
	return f
}

// values is the filters as a query (without the cursor).
func (f trailFilters) values() url.Values {
	return url.Values{"device": {f.device}, "outcome": {f.outcome}}
}

// Activity is the signed-in user's own trail, newest first, a page at a time, filtered
// by device and by outcome.
func (h *Handlers) Activity(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	user := currentUser(r)
	f := parseTrailFilters(r, true, true)
	if f.notice != "" {
		h.Log.InfoContext(ctx, "activity query ignored", "query", r.URL.RawQuery)
	}
	names := map[string]string{}
	filter := &views.ActivityFilter{Action: "/activity", Device: f.device, Outcome: f.outcome, Outcomes: outcomeOptions,
		ExportURL: "/activity.csv"}
	// The filter's devices are the user's current ones; without the lock service, the
	// filter still works with the device in the address.
	if devices, err := h.Locks.Devices(ctx, user.ID); err == nil {
		for _, d := range devices {
			name := locks.DeviceName(d)
			names[d.DeviceID] = name
			filter.Devices = append(filter.Devices, views.Option{Value: d.DeviceID, Label: name})
		}
	} else {
		h.Log.WarnContext(ctx, "activity device filter without devices", "error", err)
	}
	list, err := h.trailList(ctx, user.ID, f, names, h.clockOf(r), "/activity")
	if err != nil {
		return err
	}
	if f.device != "" && names[f.device] == "" {
		label := "Lock " + shortID(f.device)
		for _, e := range list.Entries {
			label = e.Device
			break
		}
		filter.Devices = append(filter.Devices, views.Option{Value: f.device, Label: label})
	}
	list.Filter = filter
	h.render(w, r, http.StatusOK, views.ActivityPage(h.page(r, "Your activity"), list))
	return nil
}

// trailList is one page of userID's trail (told from userID's point of view), with
// links to the neighbouring pages under base, which keep the filters.
func (h *Handlers) trailList(ctx context.Context, userID string, f trailFilters, deviceNames map[string]string,
	clock views.Clock, base string) (views.ActivityList, error) {
	entries, more, err := h.Store.Trail(ctx, store.TrailQuery{UserID: userID, DeviceID: f.device, Outcome: f.outcome,
		Before: f.cursor.Before, After: f.cursor.After, Limit: activityPageSize})
	if err != nil {
		return views.ActivityList{}, err
	}
	list := views.ActivityList{Notice: f.notice}
	for _, e := range entries {
		list.Entries = append(list.Entries, trailEntry(e, userID, deviceNames, clock))
	}
	link := func(key string, id int64) string {
		v := f.values()
		v.Set(key, strconv.FormatInt(id, 10))
		return withQuery(base, v)
	}
	older := more
	newer := f.cursor.Before > 0
	if f.cursor.After > 0 {
		older, newer = true, more
	}
	if len(entries) > 0 {
		if older {
			list.OlderURL = link("before", entries[len(entries)-1].ID)
		}
		if newer {
			list.NewerURL = link("after", entries[0].ID)
		}
	}
	if f.cursor != (trailCursor{}) {
		list.NewestURL = withQuery(base, f.values())
	}
	return list, nil
}
