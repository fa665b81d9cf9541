package locks

import (
	"errors"
	"strings"
	"testing"
)

func TestCleanDeviceName(t *testing.T) {
	for raw, want := range map[string]string{
		"  Front Door ":            "Front Door",
		"Tür 2 — Garten":           "Tür 2 — Garten",
		"門":                        "門",
		"🚪 Shed":                   "🚪 Shed",
		strings.Repeat("é", 64):    strings.Repeat("é", 64),
		"a\tb":                     "",
		"":                         "",
		" \n ":                     "",
		strings.Repeat("x", 65):    "",
		"left\u200eright":          "",
		"evil\u202etxt.exe":        "",
		"nul\x00":                  "",
		"del\x7f":                  "",
		string([]byte{0xc3, 0x28}): "",
		"no\u00a0break\u2009":      "no break",
	} {
		got, err := CleanDeviceName(raw)
		var invalid *ErrInvalidName
		switch {
		case want == "" && !errors.As(err, &invalid):
			t.Errorf("CleanDeviceName(%q) = %q, %v; want refused", raw, got, err)
		case want == "" && invalid.Reason == "":
			t.Errorf("CleanDeviceName(%q) refused without a reason", raw)
		case want != "" && (err != nil || got != want):
			t.Errorf("CleanDeviceName(%q) = %q, %v; want %q", raw, got, err, want)
		}
	}
}
