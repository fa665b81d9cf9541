package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/views"
)

// activityPageSize is how many audit events one activity page shows.
const activityPageSize = 25

// Activity is the signed-in user's own audit trail, newest first, 25 a page.
func (h *Handlers) Activity(w http.ResponseWriter, r *http.Request) error {
	user := currentUser(r)
	list, err := h.activityList(r.Context(), user.ID, beforeCursor(r), nil, func(before int64) string {
		return "/activity?before=" + strconv.FormatInt(before, 10)
	}, "/activity")
	if err != nil {
		return err
	}
	h.render(w, r, http.StatusOK, views.ActivityPage(h.page(r, "Your activity"), list))
	return nil
}

// activityList is one page of userID's audit trail. olderURL builds the link to the
// page before a cursor; newestURL is the first page. Events are described from
// userID's point of view.
func (h *Handlers) activityList(ctx context.Context, userID string, before int64, deviceNames map[string]string,
	olderURL func(int64) string, newestURL string) (views.ActivityList, error) {
	events, next, err := h.Store.ListAudit(ctx, store.AuditQuery{UserID: userID, Before: before, Limit: activityPageSize})
	if err != nil {
		return views.ActivityList{}, err
	}
	var list views.ActivityList
	for _, e := range events {
		entry := activityEntry(e, deviceNames)
		if e.Action == store.AuditAdminViewUser && e.ActorID == userID && e.SubjectUserID != userID {
			// The admin's own trail: they looked at someone, not the other way round.
			entry.What = "Viewed a customer's page"
		}
		list.Entries = append(list.Entries, entry)
	}
	if next > 0 {
		list.OlderURL = olderURL(next)
	}
	if before > 0 {
		list.NewestURL = newestURL
	}
	return list, nil
}

// beforeCursor is the ?before= page cursor; anything but a positive number means the
// newest page, so a garbled link still shows something useful.
func beforeCursor(r *http.Request) int64 {
	n, err := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// withQuery is path with the non-empty values as its query string.
func withQuery(path string, values url.Values) string {
	for k, v := range values {
		if len(v) == 0 || v[0] == "" {
			delete(values, k)
		}
	}
	if len(values) == 0 {
		return path
	}
	return path + "?" + values.Encode()
}
