package views

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
)

const productName = "Latchkey"

func pageTitle(title string) string {
	if title == "" {
		return productName
	}
	return title + " · " + productName
}

// isCurrent reports whether the navigation entry href covers path.
func isCurrent(path, href string) bool {
	return path == href || strings.HasPrefix(path, href+"/")
}

// retryURL keeps "try again" on this site: only local paths are allowed.
func retryURL(u string) string {
	if strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//") && !strings.HasPrefix(u, `/\`) {
		return u
	}
	return "/"
}

func countLabel(shown, total int) string {
	noun := "devices"
	if total == 1 {
		noun = "device"
	}
	if shown == total {
		return strconv.Itoa(total) + " " + noun
	}
	return strconv.Itoa(shown) + " of " + strconv.Itoa(total) + " " + noun
}

// filterStatusText is what the filter announces: how many devices match.
func filterStatusText(list DeviceList) string {
	switch {
	case list.Unavailable != "":
		return "Your devices cannot be shown right now."
	case list.Total > 0 && len(list.Devices) == 0:
		return "No device matches."
	}
	return countLabel(len(list.Devices), list.Total) + " shown."
}

func modelLine(d Device) string {
	parts := []string{}
	for _, s := range []string{d.Manufacturer, d.Model} {
		if s != "" && !slices.Contains(parts, s) {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return "Unknown model"
	}
	return strings.Join(parts, " · ")
}

func filterURL(base, q string) string {
	if q == "" {
		return base
	}
	return base + "?q=" + url.QueryEscape(q)
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func onlineText(online bool) string {
	if online {
		return "Online"
	}
	return "Offline"
}

func lockText(state LockState) string {
	switch state {
	case LockLocked:
		return "Locked"
	case LockUnlocked:
		return "Unlocked"
	}
	return "Unknown"
}

// doorText is the door's state, capitalised as the other facts are.
func doorText(door DoorState) string {
	if door == DoorOpen {
		return "Open"
	}
	return "Closed"
}

func batteryText(d Device) string {
	s := strconv.Itoa(d.BatteryPercent) + "%"
	if d.BatteryLow {
		s += " (low)"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "Yes"
	}
	return "No"
}

func capabilityText(c string) string {
	if c == "lock" {
		return "Lock and unlock"
	}
	return strings.ReplaceAll(c, "_", " ")
}

func controlVerb(c Control) string {
	if c.Unlock {
		return "Unlock"
	}
	return "Lock"
}

// controlClass is Unlock's warning colour or Lock's plain one.
func controlClass(c Control) string {
	if c.Unlock {
		return "btn-danger"
	}
	return "btn-secondary"
}

// zoneNote says which zone the page's times are in.
func zoneNote(c Clock) string {
	if c.Loc == nil {
		return "Times are in UTC."
	}
	return "Times are in " + c.Loc.String() + "."
}

// accountName tells an account's buttons apart for screen readers: "August account
// jane@example.com" (the cards' buttons would otherwise all be "Reconnect"/"Remove").
func accountName(a AccountCard) string {
	name := a.Provider + " account"
	if a.Login != "" {
		name += " " + a.Login
	}
	return name
}
