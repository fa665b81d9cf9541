package handlers

import (
	"context"
	"net/http"
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
		if e.ActorID == userID && e.SubjectUserID != userID {
			// The admin's own trail: they looked at someone, not the other way round.
			switch e.Action {
			case store.AuditAdminViewUser:
				entry.What = "Viewed a customer's page"
			case store.AuditAdminExportActivity:
				entry.What = "Exported a customer's activity"
			}
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
