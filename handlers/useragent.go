package handlers

import "strings"

// uaBrowsers and uaSystems name what a user agent says, in the order to test them:
// Chromium-based browsers also say "Chrome" and "Safari", Android says "Linux", iPads
// may say "Macintosh", so the more specific marks come first.
var (
	uaBrowsers = []struct{ mark, name string }{
		{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"},
		{"OPR/", "Opera"}, {"Opera", "Opera"},
		{"SamsungBrowser/", "Samsung Internet"},
		{"Vivaldi/", "Vivaldi"},
		{"YaBrowser/", "Yandex Browser"},
		{"FxiOS/", "Firefox"}, {"Firefox/", "Firefox"},
		{"CriOS/", "Chrome"}, {"Chrome/", "Chrome"}, {"Chromium/", "Chromium"},
		{"Version/", "Safari"}, // Safari says Version/N … Safari/N
		{"curl/", "curl"}, {"Wget/", "Wget"},
	}
	uaSystems = []struct{ mark, name string }{
		{"Windows Phone", "Windows Phone"}, {"Windows", "Windows"},
		{"Android", "Android"},
		{"iPhone", "iPhone"}, {"iPad", "iPad"}, {"iPod", "iPod"},
		{"CrOS", "ChromeOS"},
		{"Macintosh", "macOS"}, {"Mac OS X", "macOS"},
		{"Linux", "Linux"}, {"FreeBSD", "FreeBSD"}, {"OpenBSD", "OpenBSD"},
	}
)

// clientSummary is an approximate name for the client behind a user agent, "Firefox on
// Windows" or "Chrome on Android", for a person to recognise their own sessions. It is
// a guess (user agents are easy to change), never used to decide anything.
func clientSummary(userAgent string) string {
	ua := strings.TrimSpace(userAgent)
	if ua == "" {
		return "Unknown client"
	}
	browser, system := "", ""
	for _, b := range uaBrowsers {
		if strings.Contains(ua, b.mark) {
			browser = b.name
			break
		}
	}
	if browser == "Safari" && !strings.Contains(ua, "Safari/") {
		browser = "" // "Version/" alone is not Safari
	}
	for _, s := range uaSystems {
		if strings.Contains(ua, s.mark) {
			system = s.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	case system != "":
		return "Unknown browser on " + system
	}
	return "Unknown client"
}
