package views

import (
	"strings"
	"sync"
	"time"
	// Zone data in the binary: the static image has no /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Clock is how a viewer reads times: in their time zone (nil: UTC, labelled) and
// with a 12- or 24-hour clock.
type Clock struct {
	Loc    *time.Location
	Hour12 bool
}

// NewClock is the clock of a user with the IANA zone name zone ("" or unknown: UTC)
// whose browser asked for acceptLanguage.
func NewClock(zone, acceptLanguage string) Clock {
	c := Clock{Hour12: Uses12Hour(acceptLanguage)}
	if zone != "" {
		c.Loc = location(zone)
	}
	return c
}

// locations caches loaded zones: every page of a user with a zone needs one, and
// loading reads the zone database. Only zones that loaded are kept, and stored zones
// were validated, so it stays as small as the zones in use.
var locations sync.Map // name → *time.Location

// location is the zone called name, or nil when there is none.
func location(name string) *time.Location {
	if loc, ok := locations.Load(name); ok {
		return loc.(*time.Location)
	}
	loc, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		return nil
	}
	locations.Store(name, loc)
	return loc
}

// Zone is the clock's zone name, "" for UTC by default.
func (c Clock) Zone() string {
	if c.Loc == nil {
		return ""
	}
	return c.Loc.String()
}

// DateTime is t as a page shows it: "30 Nov 2026, 15:02" in the viewer's zone, or
// "30 Nov 2026, 14:02 UTC" when the zone is not known.
func (c Clock) DateTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.In(c.loc()).Format("2 Jan 2006, ") + c.TimeOfDay(t)
}

// TimeOfDay is t's hour and minute, "15:02" or "3:02 PM", labelled when it is UTC.
func (c Clock) TimeOfDay(t time.Time) string {
	layout := "15:04"
	if c.Hour12 {
		layout = "3:04 PM"
	}
	local := t.In(c.loc())
	s := local.Format(layout)
	// UTC is said: by default (no zone known), and for a zone that is UTC itself.
	if name, _ := local.Zone(); c.Loc == nil || name == "UTC" {
		s += " UTC"
	}
	return s
}

// ISO is t for a <time datetime> attribute: UTC, to the second.
func ISO(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func (c Clock) loc() *time.Location {
	if c.Loc == nil {
		return time.UTC
	}
	return c.Loc
}

// hour12Regions are the regions whose custom is a 12-hour clock.
var hour12Regions = map[string]bool{"US": true, "CA": true, "AU": true, "NZ": true, "PH": true, "IN": true, "PK": true, "EG": true}

// Uses12Hour reports whether the browser's first language (Accept-Language) reads a
// 12-hour clock: a region that does (en-US, en-AU…), or Korean; everyone else 24 h.
// French Canada (fr-CA) keeps 24 h.
func Uses12Hour(acceptLanguage string) bool {
	first, _, _ := strings.Cut(acceptLanguage, ",")
	first, _, _ = strings.Cut(first, ";")
	first = strings.ToLower(strings.TrimSpace(first))
	lang, region, _ := strings.Cut(strings.ReplaceAll(first, "_", "-"), "-")
	if lang == "ko" {
		return true
	}
	if lang == "fr" {
		return false
	}
	if i := strings.IndexByte(region, '-'); i >= 0 { // zh-hant-tw: the region is last
		region = region[strings.LastIndexByte(region, '-')+1:]
	}
	return hour12Regions[strings.ToUpper(region)]
}
