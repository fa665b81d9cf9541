package sandbox

import "fmt"

// Login is one provider account that the sandbox's Connect Webview accepts.
type Login struct {
	Email    string
	Password string
	// Provider is the brand the account belongs to (august or schlage); empty means
	// it signs in under either brand and its locks are of the brand chosen.
	Provider string
	// Outcome says, in words, what signing in with this account produces.
	Outcome string
}

// Sandbox provider logins. They are fixtures of a fake provider, not secrets.
const (
	// JaneEmail holds three August locks, one of them offline.
	JaneEmail = "jane@example.com"
	// JohnEmail holds two Schlage locks: one with a low battery, one that cannot be unlocked remotely.
	JohnEmail = "john@example.com"
	// DisconnectedEmail holds an account whose connection to the provider is broken (account_disconnected).
	DisconnectedEmail = "disconnected@example.com"
	// BuildingEmail is a property manager's account: 50 locks of an apartment
	// building in mixed states.
	BuildingEmail = "building@example.com"
	// FailEmail makes the provider login fail hard: the webview ends failed.
	FailEmail = "fail@example.com"
	// LoginPassword is the password of every sandbox login.
	LoginPassword = "1234"
)

// Error codes the webview reports when it ends failed.
const (
	// ErrorCodeUserCancelled is reported when the customer gives up on the webview page.
	ErrorCodeUserCancelled = "user_cancelled"
	// ErrorCodeProviderLoginFailed is reported when the provider refuses the sign-in hard (FailEmail).
	ErrorCodeProviderLoginFailed = "provider_login_failed"
)

// Logins lists the sandbox's provider logins, for banners and tests.
func Logins() []Login {
	return []Login{
		{JaneEmail, LoginPassword, "august", "3 August locks (one offline)"},
		{JohnEmail, LoginPassword, "schlage", "2 Schlage locks (one with a low battery, one that cannot be unlocked remotely)"},
		{DisconnectedEmail, LoginPassword, "", "1 lock on an account with the error account_disconnected"},
		{BuildingEmail, LoginPassword, "", "50 locks of an apartment building (some offline, some unlocked, a few low batteries, two that cannot be unlocked remotely)"},
		{FailEmail, LoginPassword, "", "the provider login fails: the webview ends failed"},
	}
}

func findLogin(email string) (Login, bool) {
	for _, l := range Logins() {
		if l.Email == email {
			return l, true
		}
	}
	return Login{}, false
}

// lockSpec describes one lock a sandbox login brings with it.
type lockSpec struct {
	name              string
	online            bool
	locked            bool
	battery           float64
	canRemotelyUnlock bool
}

type brand struct {
	key          string // provider key, as in accepted_providers
	name         string // shown to people
	deviceType   string
	model        string
	manufacturer string
}

func sandboxBrands() []brand {
	return []brand{
		{"august", "August", "august_lock", "August Wi-Fi Smart Lock", "august"},
		{"schlage", "Schlage", "schlage_lock", "Schlage Encode Smart WiFi Deadbolt", "schlage"},
	}
}

func brandByKey(key string) (brand, bool) {
	for _, b := range sandboxBrands() {
		if b.key == key {
			return b, true
		}
	}
	return brand{}, false
}

// locksFor returns the locks an account of the given login holds.
func locksFor(email string) []lockSpec {
	switch email {
	case JaneEmail:
		return []lockSpec{
			{name: "Front Door", online: true, locked: true, battery: 0.92, canRemotelyUnlock: true},
			{name: "Back Door", online: true, locked: false, battery: 0.64, canRemotelyUnlock: true},
			{name: "Garage Side Door", online: false, locked: true, battery: 0.41, canRemotelyUnlock: true},
		}
	case JohnEmail:
		return []lockSpec{
			{name: "Main Entrance", online: true, locked: true, battery: 0.15, canRemotelyUnlock: true},
			{name: "Storage Room", online: true, locked: true, battery: 0.78, canRemotelyUnlock: false},
		}
	case DisconnectedEmail:
		return []lockSpec{
			{name: "Shed Door", online: false, locked: true, battery: 0.55, canRemotelyUnlock: true},
		}
	case BuildingEmail:
		return buildingLocks()
	}
	return nil
}

// buildingLocks are BuildingEmail's 50 locks, the same every time: five common
// doors, then units 101–109 up to 501–509. Units whose number ends in 4 are
// offline (5 of them); every seventh lock is unlocked (7); units ending in 8 on
// odd floors have a low battery, unit 208 a critical one (4 in all); the Mail Room
// and the Rooftop Door cannot be unlocked remotely.
func buildingLocks() []lockSpec {
	locks := []lockSpec{
		{name: "Lobby Main Entrance", online: true, locked: true, battery: 0.88, canRemotelyUnlock: true},
		{name: "Parking Garage Gate", online: true, locked: true, battery: 0.73, canRemotelyUnlock: true},
		{name: "Mail Room", online: true, locked: true, battery: 0.66, canRemotelyUnlock: false},
		{name: "Gym", online: true, locked: true, battery: 0.52, canRemotelyUnlock: true},
		{name: "Rooftop Door", online: true, locked: true, battery: 0.91, canRemotelyUnlock: false},
	}
	for floor := 1; floor <= 5; floor++ {
		for unit := 1; unit <= 9; unit++ {
			i := len(locks)
			spec := lockSpec{
				name:              fmt.Sprintf("Unit %d%02d Front Door", floor, unit),
				online:            unit != 4,
				locked:            true,
				battery:           0.3 + float64((i*37)%69)/100, // 0.30–0.98
				canRemotelyUnlock: true,
			}
			switch {
			case floor == 2 && unit == 8:
				spec.battery = 0.05
			case unit == 8 && floor%2 == 1:
				spec.battery = 0.12 + float64(floor)/100
			}
			locks = append(locks, spec)
		}
	}
	for i := 6; i < len(locks); i += 7 {
		locks[i].locked = false
	}
	return locks
}

// batteryStatus follows Seam's buckets: critical, low, good, full.
func batteryStatus(level float64) string {
	switch {
	case level < 0.1:
		return "critical"
	case level < lowBatteryThreshold:
		return "low"
	case level < 0.85:
		return "good"
	default:
		return "full"
	}
}
