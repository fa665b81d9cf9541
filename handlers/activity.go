package handlers

import (
	"context"
	"net/http"
	"strconv"

	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/views"
)

// adminOwnWords describe an admin's acts on another user in the admin's own trail.
var adminOwnWords = map[string]string{
	store.AuditAdminViewUser:       "Viewed a customer's page",
	store.AuditAdminExportActivity: "Exported a customer's activity",
	store.AuditAdminSessionsEnded:  "Ended a customer's sessions",
	store.AuditAdminUserDisabled:   "Disabled a customer's account",
	store.AuditAdminUserEnabled:    "Enabled a customer's account",
	store.AuditAdminDisableRefused: "Admin action refused",
}

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
		if words, ok := adminOwnWords[e.Action]; ok && e.ActorID == userID && e.SubjectUserID != userID {
			// The admin's own trail: they acted on someone, not the other way round.
			entry.What = words
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
