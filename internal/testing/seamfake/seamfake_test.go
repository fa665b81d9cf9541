package seamfake_test

import (
	"net/http"
	"testing"

	"github.com/latchkey/latchkey/internal/testing/seamfake"
)

// TestStartServesSeededDevices checks the launcher: the fake answers devices/list with
// its seeded devices for the seeded key, and refuses another key.
func TestStartServesSeededDevices(t *testing.T) {
	f := seamfake.Start(t)
	var out struct {
		Devices []struct {
			DeviceID string `json:"device_id"`
		} `json:"devices"`
	}
	if status := f.Post(t, "/devices/list", map[string]any{}, &out); status != http.StatusOK {
		t.Fatalf("devices/list: status %d\n%s", status, f.Logs())
	}
	if len(out.Devices) == 0 {
		t.Fatal("devices/list: the seeded fake has no devices")
	}
	f.APIKey = "wrong"
	if status := f.Post(t, "/devices/list", map[string]any{}, nil); status != http.StatusUnauthorized {
		t.Errorf("devices/list with a wrong key: status %d, want 401", status)
	}
}
