// Package views holds Latchkey's templ components. Components are filled from the plain
// view-model structs in this file; they never call services or look at *http.Request.
package views

// Page is what the layout needs to frame any page.
type Page struct {
	// Title is the page's own title; the layout appends the product name.
	Title string
	// User is the signed-in user, or nil for an anonymous visitor.
	User *User
	// Flash is a one-time confirmation message ("Connected: 3 locks").
	Flash string
	// Path is the request path, used to mark the current navigation entry.
	Path string
	// Assets are the fingerprinted URLs of the static files.
	Assets Assets
	// RequestID identifies the request in logs; error pages show it for support.
	RequestID string
}

// User is the signed-in user as the navigation shows them.
type User struct {
	ID      string
	Name    string
	Email   string
	IsAdmin bool
}

// Assets are the URLs of the static files, with a content hash so browsers may cache them
// for a year.
type Assets struct {
	CSS  string
	HTMX string
	// Scripts are small behaviour scripts loaded on every page (deferred).
	Scripts []string
}

// ErrorView is a status page: 404, 405, 500 and every other failure a user may meet.
type ErrorView struct {
	Status  int
	Title   string
	Message string
	// Retry offers a "try again" link to RetryURL (for outages and rate limits).
	Retry    bool
	RetryURL string
	// Actions are extra links shown under the message.
	Actions []Link
}

// Link is a labelled URL.
type Link struct {
	Label string
	URL   string
}

// DisplayName is how the navigation names a user.
func (u *User) DisplayName() string {
	if u == nil {
		return ""
	}
	if u.Name != "" {
		return u.Name
	}
	return u.Email
}
