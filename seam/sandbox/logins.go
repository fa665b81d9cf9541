package sandbox

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
	lowBattery        bool
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
			{name: "Main Entrance", online: true, locked: true, battery: 0.15, canRemotelyUnlock: true, lowBattery: true},
			{name: "Storage Room", online: true, locked: true, battery: 0.78, canRemotelyUnlock: false},
		}
	case DisconnectedEmail:
		return []lockSpec{
			{name: "Shed Door", online: false, locked: true, battery: 0.55, canRemotelyUnlock: true},
		}
	}
	return nil
}

// batteryStatus follows Seam's buckets: critical, low, good, full.
func batteryStatus(level float64) string {
	switch {
	case level < 0.1:
		return "critical"
	case level < 0.25:
		return "low"
	case level < 0.85:
		return "good"
	default:
		return "full"
	}
}
