package activity

import (
	"strings"
	"time"
	// Zone data in the binary: the static image has no /usr/share/zoneinfo.
	_ "time/tzdata"
)

// CheckZone validates an IANA time zone name a browser or a form sent, and returns it
// as stored. "Local" (the server's zone), "" and anything time.LoadLocation does not
// know are refused.
func CheckZone(name string) (string, bool) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 64 || name == "Local" {
		return "", false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/_-+", r)) {
			return "", false
		}
	}
	if _, err := time.LoadLocation(name); err != nil {
		return "", false
	}
	return name, true
}

// CommonZones are the zones the settings page offers (any other valid zone a browser
// reported is offered too).
var CommonZones = []string{
	"Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Vancouver", "America/Phoenix",
	"America/Denver", "America/Chicago", "America/Mexico_City", "America/New_York", "America/Toronto",
	"America/Halifax", "America/St_Johns", "America/Bogota", "America/Lima", "America/Santiago",
	"America/Caracas", "America/Sao_Paulo", "America/Argentina/Buenos_Aires", "Atlantic/Azores", "Atlantic/Reykjavik",
	"Europe/London", "Europe/Dublin", "Europe/Lisbon", "Africa/Casablanca", "Africa/Lagos",
	"Europe/Paris", "Europe/Berlin", "Europe/Madrid", "Europe/Rome", "Europe/Amsterdam",
	"Europe/Brussels", "Europe/Zurich", "Europe/Vienna", "Europe/Stockholm", "Europe/Oslo",
	"Europe/Copenhagen", "Europe/Warsaw", "Europe/Prague", "Europe/Budapest", "Africa/Johannesburg",
	"Africa/Cairo", "Europe/Athens", "Europe/Helsinki", "Europe/Kyiv", "Europe/Bucharest",
	"Europe/Istanbul", "Asia/Jerusalem", "Europe/Moscow", "Africa/Nairobi", "Asia/Riyadh",
	"Asia/Tehran", "Asia/Dubai", "Asia/Karachi", "Asia/Tashkent", "Asia/Kolkata",
	"Asia/Kathmandu", "Asia/Dhaka", "Asia/Yangon", "Asia/Bangkok", "Asia/Jakarta",
	"Asia/Singapore", "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Manila",
	"Australia/Perth", "Asia/Seoul", "Asia/Tokyo", "Australia/Darwin", "Australia/Adelaide",
	"Australia/Brisbane", "Australia/Sydney", "Australia/Melbourne", "Pacific/Guam", "Pacific/Noumea",
	"Pacific/Auckland", "Pacific/Fiji", "Pacific/Tongatapu", "Pacific/Kiritimati",
}
