package handlers

import (
	"net/http"
	"slices"

	"github.com/latchkey/latchkey/activity"
	"github.com/latchkey/latchkey/auth"
	"github.com/latchkey/latchkey/views"
)

// Settings is /settings: the time zone the user's pages show times in.
func (h *Handlers) Settings(w http.ResponseWriter, r *http.Request) error {
	user := currentUser(r)
	h.render(w, r, http.StatusOK, views.SettingsPageView(h.page(r, "Settings"), settingsView(user.TimeZone)))
	return nil
}

func settingsView(zone string) views.SettingsPage {
	s := views.SettingsPage{Zone: zone}
	zones := activity.CommonZones
	if zone != "" && zone != "UTC" && !slices.Contains(zones, zone) {
		zones = append([]string{zone}, zones...)
	}
	for _, z := range zones {
		s.Zones = append(s.Zones, views.Option{Value: z, Label: z})
	}
	return s
}

// SetTimeZone remembers the user's time zone: reported by the browser's script (which
// gets 204 and reloads) or chosen on /settings (a 303 back there). An unknown zone is
// a 400 and changes nothing.
func (h *Handlers) SetTimeZone(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	user := currentUser(r)
	fromBrowser := r.PostFormValue("source") == "browser"
	zone, ok := activity.CheckZone(r.PostFormValue("time_zone"))
	if !ok {
		h.Log.InfoContext(ctx, "time zone refused", "length", len(r.PostFormValue("time_zone")))
		if fromBrowser {
			w.WriteHeader(http.StatusBadRequest)
			return nil
		}
		v := settingsView(user.TimeZone)
		v.Notice = "That time zone is not known. Choose one from the list."
		h.render(w, r, http.StatusBadRequest, views.SettingsPageView(h.page(r, "Settings"), v))
		return nil
	}
	if err := h.Store.SetUserTimeZone(ctx, user.ID, zone); err != nil {
		return err
	}
	if fromBrowser {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	auth.SetFlash(ctx, h.Sessions, "Times are now shown in "+zone+".")
	http.Redirect(w, r, "/settings", http.StatusSeeOther)
	return nil
}
