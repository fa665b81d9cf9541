package devidp

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/op"
)

const (
	pathLogin     = "/login"
	pathLoggedOut = "/logged-out"
	pathSignOut   = "/signout"
	// sessionCookie names this browser's latest dev IdP session (its sid), for the
	// sign-out page. Cookies are not separated by port, so the name is the IdP's own.
	sessionCookie = "devidp_session"
)

// pageStyle is inlined and allowed by its hash, so the CSP needs neither
// 'unsafe-inline' nor a stylesheet route.
const pageStyle = `
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:#f1f5f9;color:#0f172a;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{width:100%;max-width:26rem;margin:1.5rem;padding:2rem;background:#fff;border:1px solid #e2e8f0;border-radius:.75rem;box-shadow:0 1px 3px rgba(15,23,42,.08)}
h1{margin:.25rem 0 1rem;font-size:1.4rem}
h2{margin:1.75rem 0 .25rem;font-size:1rem}
.badge{display:inline-block;margin:0;padding:.15rem .5rem;border-radius:999px;background:#fef3c7;color:#92400e;font-size:.75rem;font-weight:600}
.error{padding:.6rem .8rem;border-radius:.5rem;background:#fee2e2;color:#991b1b}
label{display:block;margin-top:.9rem;font-weight:600;font-size:.9rem}
input{width:100%;margin-top:.3rem;padding:.55rem .7rem;border:1px solid #cbd5e1;border-radius:.5rem;font:inherit}
input:focus{outline:2px solid #2563eb;outline-offset:1px}
button{width:100%;margin-top:1.25rem;padding:.65rem;border:0;border-radius:.5rem;background:#1d4ed8;color:#fff;font:inherit;font-weight:600;cursor:pointer}
button:hover{background:#1e40af}
table{width:100%;border-collapse:collapse;font-size:.9rem}
th,td{padding:.35rem .25rem;text-align:left;border-bottom:1px solid #e2e8f0}
.muted{color:#475569;font-size:.9rem}
code{font-size:.85em}
`

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · Latchkey dev identity provider</title>
<style>` + pageStyle + `</style>
</head>
<body>
<main>
<p class="badge">Development identity provider · not for production</p>
<h1>{{.Title}}</h1>
{{- if .Error}}
<p class="error" role="alert">{{.Error}}</p>
{{- end}}
{{- if .Message}}
<p>{{.Message}}</p>
{{- end}}
{{- if .SignOut}}
<form method="post" action="/signout">
<button type="submit">Sign out</button>
</form>
{{- end}}
{{- if .RequestID}}
<form method="post" action="/login">
<input type="hidden" name="id" value="{{.RequestID}}">
<label for="username">Username</label>
<input id="username" name="username" value="{{.Username}}" autocomplete="username" autocapitalize="none" spellcheck="false" required{{if not .Username}} autofocus{{end}}>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required{{if .Username}} autofocus{{end}}>
<button type="submit">Sign in</button>
</form>
<h2>Dev accounts</h2>
<p class="muted">Every account uses the dev password (<code>DEV_PASSWORD</code>).</p>
<table>
<thead><tr><th scope="col">Username</th><th scope="col">Name</th><th scope="col">Role</th></tr></thead>
<tbody>
{{- range .Users}}
<tr><td><code>{{.Username}}</code></td><td>{{.Name}}</td><td>{{if .IsAdmin}}Admin ({{$.AdminGroup}}){{else}}Customer{{end}}</td></tr>
{{- end}}
</tbody>
</table>
{{- end}}
</main>
</body>
</html>
`))

// page is the view model of pageTemplate: a message page, or the login form when RequestID is set.
type page struct {
	Title, Message, Error string
	RequestID, Username   string
	Users                 []User
	AdminGroup            string
	SignOut               bool
}

// pageCSP allows nothing but the inline style, and lets the login form's
// redirects reach the relying party's origins.
func pageCSP(redirectURIs []string) string {
	sum := sha256.Sum256([]byte(pageStyle))
	formAction := []string{"'self'"}
	for _, raw := range redirectURIs {
		if u, err := url.Parse(raw); err == nil {
			if origin := u.Scheme + "://" + u.Host; !slices.Contains(formAction, origin) {
				formAction = append(formAction, origin)
			}
		}
	}
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; form-action " + strings.Join(formAction, " ") + "; frame-ancestors 'none'; base-uri 'none'"
}

func (p *Provider) loginPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	req, err := p.store.pendingRequest(id)
	if err != nil {
		p.renderExpired(w)
		return
	}
	p.renderLogin(w, http.StatusOK, id, req.loginHint, "")
}

func (p *Provider) loginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	id := r.PostFormValue("id")
	username := strings.TrimSpace(r.PostFormValue("username"))
	req, err := p.store.pendingRequest(id)
	if err != nil {
		p.renderExpired(w)
		return
	}
	user, ok := p.store.checkPassword(username, r.PostFormValue("password"))
	if !ok {
		// An unknown name may be a password typed into the wrong field: log it only when it is a seeded user.
		if p.store.isUser(username) {
			p.logger.WarnContext(r.Context(), "dev idp sign-in failed", "user", username)
		} else {
			p.logger.WarnContext(r.Context(), "dev idp sign-in failed", "known_user", false)
		}
		p.renderLogin(w, http.StatusOK, id, username, "Wrong username or password.")
		return
	}
	sid, err := p.store.completeLogin(id, user.Subject)
	if err != nil {
		p.renderExpired(w)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: sid, Path: "/", HttpOnly: true,
		Secure: strings.HasPrefix(p.issuer, "https://"), SameSite: http.SameSiteLaxMode})
	p.logger.InfoContext(r.Context(), "dev idp sign-in", "user", user.Username, "client_id", req.clientID)
	callback := op.AuthCallbackURL(p.op)(op.ContextWithIssuer(r.Context(), p.issuer), id)
	http.Redirect(w, r, callback, http.StatusSeeOther)
}

// signOutPage offers to end this browser's dev IdP session.
func (p *Provider) signOutPage(w http.ResponseWriter, r *http.Request) {
	if _, err := r.Cookie(sessionCookie); err != nil {
		p.renderMessage(w, http.StatusOK, "Not signed in", "This browser has no session at the dev identity provider.")
		return
	}
	p.render(w, http.StatusOK, page{Title: "Sign out", SignOut: true,
		Message: "Sign out of the dev identity provider. Latchkey is told at once (back-channel logout) and ends the session this sign-in started."})
}

// signOutSubmit ends this browser's dev IdP session and tells the relying party.
func (p *Provider) signOutSubmit(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(sessionCookie)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: strings.HasPrefix(p.issuer, "https://"), SameSite: http.SameSiteLaxMode})
	if err == nil {
		if sub, ok := p.store.endSession(r.Context(), c.Value, ""); ok {
			p.logger.InfoContext(r.Context(), "dev idp sign-out", "subject", sub)
		}
	}
	p.loggedOut(w, r)
}

func (p *Provider) loggedOut(w http.ResponseWriter, _ *http.Request) {
	p.renderMessage(w, http.StatusOK, "Signed out", "You are signed out of the dev identity provider. You can close this tab.")
}

func (p *Provider) renderExpired(w http.ResponseWriter) {
	p.renderMessage(w, http.StatusBadRequest, "Sign-in expired",
		"This sign-in request has expired or was already used. Go back to Latchkey and sign in again.")
}

func (p *Provider) renderLogin(w http.ResponseWriter, status int, id, username, errMsg string) {
	p.render(w, status, page{
		Title: "Sign in to Latchkey", Error: errMsg,
		RequestID: id, Username: username, Users: Users(), AdminGroup: p.adminGroup,
	})
}

func (p *Provider) renderMessage(w http.ResponseWriter, status int, title, msg string) {
	p.render(w, status, page{Title: title, Message: msg})
}

// render executes into a buffer first so a failed render is a clean 500, not half a page.
func (p *Provider) render(w http.ResponseWriter, status int, data page) {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, data); err != nil {
		p.logger.Error("dev idp render page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", p.csp)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
