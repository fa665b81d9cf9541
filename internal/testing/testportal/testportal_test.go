package testportal_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/internal/testing/testportal"
)

// TestSignInLandsOnDevices checks the harness itself: a dev IdP sign-in ends on
// /devices, which then answers 200 with the signed-in user's empty device list.
func TestSignInLandsOnDevices(t *testing.T) {
	p := testportal.Start(t, testportal.Options{})
	c := p.SignIn(t, "alice")
	res, body := p.Get(t, c, "/devices")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /devices: %d", res.StatusCode)
	}
	if !strings.Contains(body, "Connect your first lock") {
		t.Errorf("empty device list lacks the connect invitation")
	}
}
