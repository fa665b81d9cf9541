package sandbox

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

const (
	webviewPath       = "/connect_webviews/view"
	webviewScriptPath = "/connect_webviews/webview.js"
	assetsPrefix      = "/assets/devices/"
	maxFormBytes      = 64 << 10
)

//go:embed webview
var webviewFiles embed.FS

// Errors of CompleteWebview.
var (
	// ErrWebviewNotFound means no webview has the given id.
	ErrWebviewNotFound = errors.New("sandbox: connect webview not found")
	// ErrWebviewFinished means the webview is already authorized or failed.
	ErrWebviewFinished = errors.New("sandbox: connect webview already finished")
	// ErrWrongLogin means the email and password are not a sandbox login (see Logins).
	ErrWrongLogin = errors.New("sandbox: wrong email or password")
	// ErrProviderLoginFailed means the login fails hard (FailEmail); the webview is now failed.
	ErrProviderLoginFailed = errors.New("sandbox: provider login failed")
)

func parsePages() *template.Template {
	return template.Must(template.ParseFS(webviewFiles, "webview/pages.html"))
}

// pageData fills the webview templates.
type pageData struct {
	Title      string
	Nonce      string
	WebviewID  string
	AuthToken  string
	Brands     []brandLink
	Brand      brandLink
	ChooseHref string
	Email      string
	Error      string
	Result     resultView
}

type brandLink struct {
	Key, Name, Href, Image string
}

type resultView struct {
	Success      bool
	BrandName    string
	EventType    string
	ErrorCode    string
	ErrorMessage string
	TargetOrigin string
	RedirectURL  string
}

// serveWebview is the Connect Webview page: pick a brand, sign in, see the outcome.
// It needs no API key: the auth_token in its URL is the credential, as with Seam.
func (s *Sandbox) serveWebview(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		q = r.PostForm
	}
	nonce := newNonce()
	data, name, status := s.webviewStep(r.Method, q)
	data.Nonce = nonce
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.log.Error("sandbox: render webview page", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	frameAncestors := "'self'"
	if s.portalOrigin != "" {
		frameAncestors = s.portalOrigin
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'nonce-"+nonce+
		"'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors "+frameAncestors)
	h.Set("X-Content-Type-Options", "nosniff")
	// The page's URL carries the webview's auth_token: keep it out of Referer headers.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func newNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	return base64.StdEncoding.EncodeToString(b)
}

// webviewStep decides which page to show, changing state for sign-ins and
// cancellations. It returns the data, the template name and the HTTP status.
func (s *Sandbox) webviewStep(method string, q url.Values) (pageData, string, int) {
	id, token := q.Get("connect_webview_id"), q.Get("auth_token")
	s.mu.Lock()
	defer s.mu.Unlock()
	wv, ok := s.st.webviews[id]
	if !ok || subtle.ConstantTimeCompare([]byte(token), []byte(wv.authToken)) != 1 {
		return pageData{Title: "Link not valid"}, "invalid", http.StatusNotFound
	}
	data := pageData{WebviewID: id, AuthToken: token}
	if wv.json.Status != "pending" {
		return s.resultPage(wv, data)
	}
	brands := s.webviewBrands(wv, id, token)
	chosen, chosenOK := brandLink{}, false
	for _, b := range brands {
		if b.Key == q.Get("provider") || len(brands) == 1 {
			chosen, chosenOK = b, true
		}
	}
	now := s.now()
	if method == http.MethodPost && q.Get("action") == "cancel" {
		s.failWebview(wv, ErrorCodeUserCancelled, "The sign-in was cancelled.", now)
		return s.resultPage(wv, data)
	}
	if !chosenOK {
		data.Title, data.Brands = "Choose your lock brand", brands
		return data, "choose", http.StatusOK
	}
	data.Title, data.Brand = "Sign in to "+chosen.Name, chosen
	if len(brands) > 1 {
		data.ChooseHref = "?" + url.Values{"connect_webview_id": {id}, "auth_token": {token}}.Encode()
	}
	if method != http.MethodPost {
		return data, "login", http.StatusOK
	}
	email := strings.ToLower(strings.TrimSpace(q.Get("email")))
	data.Email = email
	login, ok := checkLogin(email, q.Get("password"))
	switch {
	case !ok:
		data.Error = "The email or password is incorrect."
		return data, "login", http.StatusOK
	case login.Provider != "" && login.Provider != chosen.Key:
		data.Error = fmt.Sprintf("This is not a %s account. Choose the brand of your locks.", chosen.Name)
		return data, "login", http.StatusOK
	case login.Email == FailEmail:
		s.failWebview(wv, ErrorCodeProviderLoginFailed, "The lock provider refused the sign-in. Try again later.", now)
		return s.resultPage(wv, data)
	}
	b, _ := brandByKey(chosen.Key)
	s.authorizeWebview(wv, login.Email, b, now)
	return s.resultPage(wv, data)
}

// webviewBrands lists the sandbox brands the webview accepts; all of them if it
// accepts none of the sandbox's.
func (s *Sandbox) webviewBrands(wv *webview, id, token string) []brandLink {
	var out, all []brandLink
	for _, b := range sandboxBrands() {
		href := "?" + url.Values{"connect_webview_id": {id}, "auth_token": {token}, "provider": {b.key}}.Encode()
		l := brandLink{Key: b.key, Name: b.name, Href: href, Image: ".." + assetsPrefix + b.deviceType + ".svg"}
		all = append(all, l)
		if slices.Contains(wv.json.AcceptedProviders, b.key) {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		return all
	}
	return out
}

func checkLogin(email, password string) (Login, bool) {
	l, ok := findLogin(email)
	if !ok || subtle.ConstantTimeCompare([]byte(password), []byte(l.Password)) != 1 {
		return Login{}, false
	}
	return l, true
}

// resultPage shows how a finished webview ended, with what the embedding page
// needs: the event to post, the origin to post it to, and where to go next.
func (s *Sandbox) resultPage(wv *webview, data pageData) (pageData, string, int) {
	success := wv.json.Status == "authorized"
	res := resultView{Success: success}
	target := wv.json.CustomRedirectURL
	params := url.Values{"connect_webview_id": {wv.json.ConnectWebviewID}}
	if success {
		data.Title = "Connected"
		res.EventType = "webview.login_successful"
		if wv.json.SelectedProvider != nil {
			b, _ := brandByKey(*wv.json.SelectedProvider)
			res.BrandName = b.name
		}
	} else {
		data.Title = "Not connected"
		res.EventType = "webview.login_failed"
		res.ErrorCode, res.ErrorMessage = wv.errorCode, wv.errorMessage
		if wv.json.CustomRedirectFailureURL != nil {
			target = wv.json.CustomRedirectFailureURL
		}
		params.Set("error_code", wv.errorCode)
		params.Set("error_message", wv.errorMessage)
	}
	if target != nil {
		res.RedirectURL = withQuery(*target, params)
	}
	res.TargetOrigin = s.portalOrigin
	if res.TargetOrigin == "" {
		for _, u := range []*string{wv.json.CustomRedirectURL, wv.json.CustomRedirectFailureURL} {
			if u == nil {
				continue
			}
			if o, ok := originOf(*u); ok {
				res.TargetOrigin = o
				break
			}
		}
	}
	data.Result = res
	return data, "result", http.StatusOK
}

// withQuery adds params to an absolute http(s) URL; anything else yields "" so a
// javascript: or relative URL is never followed.
func withQuery(raw string, params url.Values) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if _, ok := originOf(raw); !ok {
		return ""
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// ReconnectMetadataKey is the custom_metadata key of a reconnecting Connect Webview:
// its value is the connected_account_id being reconnected. Seam keeps an account's id
// when the same provider login signs in again; the sandbox does that for webviews that
// say which account they reconnect (the named account, or another of the user's with
// that login), and otherwise keeps creating a new account for every sign-in (so one
// login can be connected many times in tests).
const ReconnectMetadataKey = "reconnect_connected_account_id"

// authorizeWebview is a successful provider login, granted to every client session
// that was granted the webview: for a reconnecting webview, the account of that login
// (the one it names, or another of the user's; its errors cleared, its devices back),
// else a new connected account with fresh devices.
func (s *Sandbox) authorizeWebview(wv *webview, email string, b brand, now time.Time) *account {
	var acc *account
	if id, _ := wv.json.CustomMetadata[ReconnectMetadataKey].(string); id != "" {
		same := func(a *account) bool { return a.json.UserIdentifier.Email == email && a.json.AccountType == b.key }
		if old, ok := s.st.accounts[id]; ok && same(old) {
			acc = old
		} else {
			// Another login: as Seam, the account it already has for that login (among
			// those of the sessions granted this webview), if any.
			for _, cs := range s.st.sessions {
				if !slices.Contains(cs.webviewIDs, wv.json.ConnectWebviewID) {
					continue
				}
				for _, id := range cs.accountIDs {
					if a, ok := s.st.accounts[id]; ok && same(a) && acc == nil {
						acc = a
					}
				}
			}
		}
		if acc != nil {
			s.reconnectAccount(acc, now)
		}
	}
	reconnected := acc != nil
	if !reconnected {
		acc, _ = s.st.addAccount(s.workspaceID, accountOptions{
			email:        email,
			brand:        b,
			locks:        locksFor(email),
			disconnected: email == DisconnectedEmail,
		}, now)
	}
	accID, at, provider := acc.json.ConnectedAccountID, stamp(now), b.key
	wv.json.Status = "authorized"
	wv.json.LoginSuccessful = true
	wv.json.ConnectedAccountID = &accID
	wv.json.AuthorizedAt = &at
	wv.json.SelectedProvider = &provider
	for _, cs := range s.st.sessions {
		if slices.Contains(cs.webviewIDs, wv.json.ConnectWebviewID) {
			s.st.grantAccount(cs, accID)
		}
	}
	if !reconnected {
		s.emitAccountAdded(acc, wv.json.ConnectWebviewID, now)
	}
	return acc
}

func (s *Sandbox) failWebview(wv *webview, code, message string, now time.Time) {
	wv.json.Status = "failed"
	wv.errorCode, wv.errorMessage = code, message
	s.emit(now, eventJSON{
		EventType:        EventConnectWebviewLoginFailed,
		EventDescription: descriptionWebviewLoginFailed,
		ConnectWebviewID: wv.json.ConnectWebviewID,
		ErrorCode:        code,
	})
}

// serveAsset serves the webview's script and the device images.
func (s *Sandbox) serveAsset(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var file, ctype string
	switch name, isImage := strings.CutPrefix(r.URL.Path, assetsPrefix); {
	case r.URL.Path == webviewScriptPath:
		file, ctype = "webview/webview.js", "text/javascript; charset=utf-8"
	case isImage && (name == "august_lock.svg" || name == "schlage_lock.svg"):
		file, ctype = "webview/"+name, "image/svg+xml"
	default:
		http.NotFound(w, r)
		return
	}
	b, err := webviewFiles.ReadFile(file)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'")
	// The portal shows device images from the sandbox's origin.
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	h.Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(b)
}

// CompleteWebview signs in to a pending webview as the form would, and returns the
// connected account's id: a new one, or the one a reconnecting webview restores (see
// ReconnectMetadataKey). FailEmail makes the webview fail (ErrProviderLoginFailed).
func (s *Sandbox) CompleteWebview(webviewID, email, password string) (connectedAccountID string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	wv, ok := s.st.webviews[webviewID]
	if !ok {
		return "", fmt.Errorf("complete webview %s: %w", webviewID, ErrWebviewNotFound)
	}
	if wv.json.Status != "pending" {
		return "", fmt.Errorf("complete webview %s: %w", webviewID, ErrWebviewFinished)
	}
	login, ok := checkLogin(strings.ToLower(strings.TrimSpace(email)), password)
	if !ok {
		return "", fmt.Errorf("complete webview %s: %w", webviewID, ErrWrongLogin)
	}
	if login.Email == FailEmail {
		s.failWebview(wv, ErrorCodeProviderLoginFailed, "The lock provider refused the sign-in. Try again later.", now)
		return "", fmt.Errorf("complete webview %s: %w", webviewID, ErrProviderLoginFailed)
	}
	b, ok := brandByKey(login.Provider)
	if !ok {
		links := s.webviewBrands(wv, webviewID, wv.authToken)
		b, _ = brandByKey(links[0].Key)
	}
	return s.authorizeWebview(wv, login.Email, b, now).json.ConnectedAccountID, nil
}

// AddConnectedAccount creates a connected account with n online August locks and
// grants it to the client session of userIdentifierKey, creating the session if
// needed. It is for tests and benchmarks that need devices without a webview.
func (s *Sandbox) AddConnectedAccount(userIdentifierKey string, n int) (accountID string, deviceIDs []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	cs := s.st.sessionByKey[userIdentifierKey]
	if cs == nil {
		cs = s.st.newSession(userIdentifierKey, true, now)
	}
	locks := make([]lockSpec, n)
	for i := range locks {
		locks[i] = lockSpec{name: fmt.Sprintf("Lock %d", i+1), online: true, locked: true, battery: 0.8, canRemotelyUnlock: true}
	}
	b, _ := brandByKey("august")
	email := fmt.Sprintf("account%d@example.com", len(s.st.accountOrder)+1)
	acc, ids := s.st.addAccount(s.workspaceID, accountOptions{email: email, brand: b, locks: locks}, now)
	s.st.grantAccount(cs, acc.json.ConnectedAccountID)
	s.emitAccountAdded(acc, "", now)
	return acc.json.ConnectedAccountID, ids
}
