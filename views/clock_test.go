package views

import (
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	at := time.Date(2026, 11, 30, 14, 2, 0, 0, time.UTC)
	for _, c := range []struct {
		zone, lang, want string
	}{
		{"", "", "30 Nov 2026, 14:02 UTC"},
		{"", "en-US,en;q=0.9", "30 Nov 2026, 2:02 PM UTC"},
		{"Europe/Paris", "fr-FR", "30 Nov 2026, 15:02"},
		{"America/New_York", "en-US", "30 Nov 2026, 9:02 AM"},
		{"Asia/Kolkata", "en-GB", "30 Nov 2026, 19:32"},
		{"Asia/Kolkata", "en-IN", "30 Nov 2026, 7:32 PM"},
		{"Pacific/Kiritimati", "de", "1 Dec 2026, 04:02"},
		{"Not/AZone", "", "30 Nov 2026, 14:02 UTC"},
		{"Etc/UTC", "", "30 Nov 2026, 14:02 UTC"},
		{"UTC", "en-US", "30 Nov 2026, 2:02 PM UTC"},
		{"Europe/London", "en-GB", "30 Nov 2026, 14:02"},
	} {
		clock := NewClock(c.zone, c.lang)
		if got := clock.DateTime(at); got != c.want {
			t.Errorf("zone %q lang %q: %q, want %q", c.zone, c.lang, got, c.want)
		}
	}
	if got := ISO(at.In(time.FixedZone("x", 3600))); got != "2026-11-30T14:02:00Z" {
		t.Errorf("ISO = %q", got)
	}
	if got := (Clock{}).DateTime(time.Time{}); got != "never" {
		t.Errorf("zero time = %q", got)
	}
}

func TestUses12Hour(t *testing.T) {
	for lang, want := range map[string]bool{
		"en-US": true, "en-us,en;q=0.8": true, "en-GB": false, "en": false, "fr-CA": false, "en-CA": true,
		"de-DE,de;q=0.9,en-US;q=0.5": false, "ko-KR": true, "zh-Hant-TW": false, "": false, "en_AU": true, ";;;,": false,
	} {
		if got := Uses12Hour(lang); got != want {
			t.Errorf("Uses12Hour(%q) = %v, want %v", lang, got, want)
		}
	}
}
