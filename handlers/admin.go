package handlers

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/latchkey/latchkey/store"
	"github.com/latchkey/latchkey/views"
)

// AdminUsers lists every user with what they connected. The counts are Latchkey's own
// records: this page never calls Seam.
func (h *Handlers) AdminUsers(w http.ResponseWriter, r *http.Request) error {
	users, err := h.Store.ListUsers(r.Context())
	clock := h.clockOf(r)
	if err != nil {
		return err
	}
	// Every customer's name and email: who looked is on the record.
	h.audit(r, store.AuditEvent{Action: store.AuditAdminListUsers, Outcome: store.OutcomeSuccess,
		Detail: strconv.Itoa(len(users)) + " users listed"})
	rows := make([]views.AdminUserRow, 0, len(users))
	for _, u := range users {
		row := adminUserRow(u.User, clock)
		row.DeviceCount, row.AccountCount = u.DeviceCount, u.AccountCount
		rows = append(rows, row)
	}
	h.render(w, r, http.StatusOK, views.AdminUsersPage(h.page(r, "Users"), rows))
	return nil
}

// AdminUser shows one user's devices exactly as that user sees them (their
// user_identifier_key and their ownership record), read-only, and their activity.
// Every view is audited, including the live filter's partial answers.
func (h *Handlers) AdminUser(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	target, err := h.adminTarget(r)
	if err != nil {
		return err
	}
	// Canonical form, so the links on the page match the stored id.
	id := target.ID
	query := r.URL.Query().Get("q")
	partial := r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Target") == "device-list"
	detail := "user page"
	if partial {
		detail = "device filter"
	}
	h.audit(r, store.AuditEvent{SubjectUserID: target.ID, Action: store.AuditAdminViewUser, Outcome: store.OutcomeSuccess, Detail: detail})

	base := "/admin/users/" + id
	clock := h.clockOf(r)
	list, status, err := h.deviceList(ctx, w.Header(), target, query, clock)
	if err != nil {
		return err
	}
	list.ReadOnly = true
	list.BaseURL = base
	if partial {
		h.render(w, r, status, views.DeviceListUpdate(list))
		return nil
	}
	names := make(map[string]string, len(list.Devices))
	for _, d := range list.Devices {
		names[d.ID] = d.Name
	}
	f := parseTrailFilters(r, false, false)
	activity, err := h.trailList(ctx, target.ID, f, names, clock, base)
	if err != nil {
		return err
	}
	access, err := h.adminAccess(r, currentUser(r), target)
	if err != nil {
		return err
	}
	page := views.AdminUserDetail{User: adminUserRow(target, clock), Access: access, Devices: list, Activity: activity}
	h.render(w, r, status, views.AdminUserPage(h.page(r, orDefault(target.Name, target.Email)), page))
	return nil
}

func adminUserRow(u store.User, clock views.Clock) views.AdminUserRow {
	row := views.AdminUserRow{
		ID:            u.ID,
		URL:           "/admin/users/" + url.PathEscape(u.ID),
		Name:          u.Name,
		Email:         u.Email,
		EmailVerified: u.EmailVerified,
		IsAdmin:       u.IsAdmin,
		Disabled:      u.Disabled(),
		LastLogin:     clock.DateTime(u.LastLoginAt),
		LastLoginISO:  views.ISO(u.LastLoginAt),
		Created:       clock.DateTime(u.CreatedAt),
	}
	return row
}
