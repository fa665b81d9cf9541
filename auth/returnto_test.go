package auth_test

import (
	"strings"
	"testing"

	"github.com/latchkey/latchkey/auth"
)

// TestSafeReturnTo keeps local paths and refuses everything a browser could resolve to
// another origin, including the same tricks behind percent-encoding or control bytes.
func TestSafeReturnTo(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" = refused
	}{
		// Local paths are kept as given.
		{"/devices", "/devices"},
		{"/activity", "/activity"},
		{"/devices/5b0e4c1e-0f6b-4f7e-9d43-0e2f3c1d9a10", "/devices/5b0e4c1e-0f6b-4f7e-9d43-0e2f3c1d9a10"},
		{"/devices?q=front%20door", "/devices?q=front%20door"},
		{"/devices?next=//evil.example", "/devices?next=//evil.example"}, // a query is not a host
		{"/", "/"},

		// Another origin, directly.
		{"", ""},
		{"//evil.example", ""},
		{"///evil.example", ""},
		{"/\\evil.example", ""},
		{"\\\\evil.example", ""},
		{"https://evil.example", ""},
		{"http://evil.example/devices", ""},
		{"https:evil.example", ""},
		{"javascript:alert(1)", ""},
		{"JaVaScRiPt:alert(1)", ""},
		{"data:text/html,<script>alert(1)</script>", ""},
		{"evil.example", ""},
		{"devices", ""},

		// The same behind encoding: a later hop may decode again.
		{"/%2F%2Fevil.example", ""},
		{"/%2f%2fevil.example", ""},
		{"%2F%2Fevil", ""},
		{"/%5Cevil.example", ""},
		{"/%5cevil.example", ""},
		{"/%252F%252Fevil.example", ""},         // double-encoded
		{"/%25252F%25252Fevil.example", ""},     // triple-encoded
		{"/%2525252F%2525252Fevil.example", ""}, // and beyond: refuse what does not settle
		{"/%09/evil.example", ""},
		{"/%0d%0aLocation:%20https://evil.example", ""},
		{"/%zz", ""}, // undecodable

		// Control characters browsers strip before resolving.
		{"/\t/evil.example", ""},
		{"/\n/evil.example", ""},
		{"/\r\n/evil.example", ""},
		{"/\x00/evil.example", ""},
		{"/\x7f/evil.example", ""},

		// Absurdly long input.
		{"/" + strings.Repeat("a", 4096), ""},
	}
	for _, tt := range tests {
		if got := auth.SafeReturnTo(tt.in); got != tt.want {
			t.Errorf("SafeReturnTo(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
