package sandbox

import (
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
)

// ControlPath is where the sandbox serves its control page: the development page
// "at the door" that moves locks by hand, takes devices offline, drains batteries
// and disconnects accounts, each change emitting the events Seam would.
const ControlPath = "/control"

// ControlURL is the control page's absolute URL when Options.PublicURL is set (Start
// sets it), else ControlPath.
func (s *Sandbox) ControlURL() string { return s.publicURL + ControlPath }

// --- test controls ---------------------------------------------------------------

// withDevice runs f on a device under the lock, settling due attempts first so that
// events keep their order.
func (s *Sandbox) withDevice(deviceID string, f func(d *device)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle(s.now())
	d, ok := s.st.devices[deviceID]
	if !ok {
		return fmt.Errorf("%w: %s", ErrDeviceNotFound, deviceID)
	}
	f(d)
	return nil
}

func (s *Sandbox) withAccount(accountID string, f func(acc *account)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle(s.now())
	acc, ok := s.st.accounts[accountID]
	if !ok {
		return fmt.Errorf("%w: %s", ErrAccountNotFound, accountID)
	}
	f(acc)
	return nil
}

// SetLocked locks or unlocks a device as if at the door, emitting lock.locked or
// lock.unlocked with method (MethodManual, MethodKeycode, MethodAutomatic,
// MethodUnknown, MethodCard; MethodRemote is for action attempts but accepted).
// Nothing is emitted when the lock is already in that state.
func (s *Sandbox) SetLocked(deviceID string, locked bool, method string) error {
	if !slices.Contains(lockMethods(), method) {
		return fmt.Errorf("%w: %q", ErrInvalidMethod, method)
	}
	return s.withDevice(deviceID, func(d *device) { s.setLocked(d, locked, method, "", s.now()) })
}

// SetOnline brings a device online or takes it offline (error device_disconnected),
// emitting device.connected or device.disconnected when properties.online changes.
// A device of a disconnected account stays offline until ReconnectAccount.
func (s *Sandbox) SetOnline(deviceID string, online bool) error {
	return s.withDevice(deviceID, func(d *device) {
		d.offline = !online
		s.syncDevice(d, s.now())
	})
}

// SetBattery sets a device's battery level (0–1) and status (critical below 0.1,
// low below 0.25, good below 0.85, else full), emitting device.low_battery when the
// status falls into low or critical and device.battery_status_changed when it changes.
func (s *Sandbox) SetBattery(deviceID string, level float64) error {
	if !(level >= 0 && level <= 1) {
		return fmt.Errorf("%w: %v", ErrInvalidBatteryLevel, level)
	}
	return s.withDevice(deviceID, func(d *device) { s.setBattery(d, level, s.now()) })
}

// DisconnectAccount gives a connected account the error account_disconnected,
// emitting connected_account.disconnected, and takes its devices offline (each
// with the error account_disconnected and a device.disconnected event).
func (s *Sandbox) DisconnectAccount(accountID string) error {
	return s.withAccount(accountID, func(acc *account) { s.disconnectAccount(acc, s.now()) })
}

// ReconnectAccount undoes DisconnectAccount: connected_account.connected, and
// device.connected for each device that is not offline on its own.
func (s *Sandbox) ReconnectAccount(accountID string) error {
	return s.withAccount(accountID, func(acc *account) { s.reconnectAccount(acc, s.now()) })
}

// RemoveDevice removes a device at the provider: device.removed, and the device is
// gone from the API.
func (s *Sandbox) RemoveDevice(deviceID string) error {
	return s.withDevice(deviceID, func(d *device) { s.removeDevice(d, s.now()) })
}

// DeleteAccount deletes a connected account and its devices: device.deleted for
// each device, then connected_account.deleted.
func (s *Sandbox) DeleteAccount(accountID string) error {
	return s.withAccount(accountID, func(acc *account) { s.deleteAccount(acc, s.now()) })
}

// --- the page --------------------------------------------------------------------

type controlDevice struct {
	ID, Name, Model  string
	Online, Locked   bool
	Battery          int
	BatteryStatus    string
	RemoteUnlock     bool
	Errors, Warnings []string
	AccountConnected bool
	LowBattery       bool
	FullBattery      bool
}

type controlAccount struct {
	ID, Email, Provider string
	Connected           bool
	Devices             []controlDevice
}

type controlEvent struct {
	At, Type, Device, Detail string
}

type controlDelivery struct {
	At, Webhook, MessageID, EventType, Result string
	Attempt                                   int
}

type controlPage struct {
	Nonce      string
	Accounts   []controlAccount
	Events     []controlEvent
	Deliveries []controlDelivery
	Webhooks   int
}

// controlOps are the control page's operations: op → what it needs.
var controlOps = map[string]string{
	"lock": "device", "unlock": "device", "offline": "device", "online": "device",
	"drain": "device", "restore": "device", "remove": "device",
	"disconnect": "account", "reconnect": "account", "delete": "account",
}

func (s *Sandbox) serveControl(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	nonce := newNonce()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+nonce+"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.renderControl(w, nonce)
	case http.MethodPost:
		// A dev page needs no CSRF token, but another site must not drive it.
		if err := http.NewCrossOriginProtection().Check(r); err != nil {
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		anchor, status, err := s.controlAction(r.PostForm.Get("op"), r.PostForm.Get("id"))
		if err != nil {
			http.Error(w, err.Error(), status)
			return
		}
		http.Redirect(w, r, ControlPath+"#"+anchor, http.StatusSeeOther)
	default:
		h.Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (s *Sandbox) controlAction(op, id string) (anchor string, status int, err error) {
	switch controlOps[op] {
	case "device":
		anchor = "d-" + id
	case "account":
		anchor = "a-" + id
	default:
		return "", http.StatusBadRequest, fmt.Errorf("unknown operation %q", op)
	}
	switch op {
	case "lock":
		err = s.SetLocked(id, true, MethodManual)
	case "unlock":
		err = s.SetLocked(id, false, MethodManual)
	case "offline":
		err = s.SetOnline(id, false)
	case "online":
		err = s.SetOnline(id, true)
	case "drain":
		err = s.SetBattery(id, defaultLowBatteryLevel)
	case "restore":
		err = s.SetBattery(id, defaultFullBatteryLevel)
	case "remove":
		err, anchor = s.RemoveDevice(id), ""
	case "disconnect":
		err = s.DisconnectAccount(id)
	case "reconnect":
		err = s.ReconnectAccount(id)
	case "delete":
		err, anchor = s.DeleteAccount(id), ""
	}
	if err != nil {
		return "", http.StatusNotFound, err
	}
	if anchor == "" {
		anchor = "events"
	}
	return anchor, http.StatusSeeOther, nil
}

func (s *Sandbox) renderControl(w http.ResponseWriter, nonce string) {
	page := controlPage{Nonce: nonce}
	s.mu.Lock()
	s.settle(s.now())
	names := map[string]string{}
	for _, acc := range s.st.accountOrder {
		ca := controlAccount{
			ID: acc.json.ConnectedAccountID, Email: acc.json.UserIdentifier.Email,
			Provider: acc.json.AccountTypeDisplayName, Connected: !s.st.accountDown(acc.json.ConnectedAccountID),
		}
		for _, d := range s.accountDevices(acc) {
			p := d.json.Properties
			cd := controlDevice{
				ID: d.json.DeviceID, Name: d.json.DisplayName, Model: p.Model.DisplayName,
				Online: p.Online, Locked: p.Locked, Battery: int(p.BatteryLevel*100 + 0.5), BatteryStatus: p.Battery.Status,
				RemoteUnlock: d.json.CanRemotelyUnlock, AccountConnected: ca.Connected,
				LowBattery: isLowBattery(p.Battery.Status), FullBattery: p.BatteryLevel >= defaultFullBatteryLevel,
			}
			for _, e := range d.json.Errors {
				cd.Errors = append(cd.Errors, e.ErrorCode)
			}
			for _, w := range d.json.Warnings {
				cd.Warnings = append(cd.Warnings, w.WarningCode)
			}
			names[d.json.DeviceID] = d.json.DisplayName
			ca.Devices = append(ca.Devices, cd)
		}
		page.Accounts = append(page.Accounts, ca)
	}
	for i := len(s.st.events) - 1; i >= 0 && len(page.Events) < 25; i-- {
		e := s.st.events[i].json
		ev := controlEvent{At: e.CreatedAt, Type: e.EventType, Device: names[e.DeviceID]}
		if ev.Device == "" && e.DeviceID != "" {
			ev.Device = e.DeviceID
		}
		var detail []string
		if e.Method != "" {
			detail = append(detail, "method "+e.Method)
		}
		if e.Status != "" {
			detail = append(detail, "status "+e.Status)
		}
		if e.BatteryLevel != nil {
			detail = append(detail, fmt.Sprintf("battery %.2f %s", *e.BatteryLevel, e.BatteryStatus))
		}
		if e.ErrorCode != "" {
			detail = append(detail, e.ErrorCode)
		}
		ev.Detail = strings.Join(detail, ", ")
		page.Events = append(page.Events, ev)
	}
	page.Webhooks = len(s.st.webhooks)
	s.mu.Unlock()

	all := s.Deliveries()
	for i := len(all) - 1; i >= 0 && len(page.Deliveries) < 15; i-- {
		d := all[i]
		res := fmt.Sprintf("HTTP %d", d.Status)
		if d.Status == 0 {
			res = d.Err
		}
		if d.GaveUp {
			res += " (given up)"
		}
		page.Deliveries = append(page.Deliveries, controlDelivery{
			At: stamp(d.At), Webhook: d.WebhookID, MessageID: d.MessageID, EventType: d.EventType, Result: res, Attempt: d.Attempt,
		})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.control.Execute(w, page); err != nil {
		s.log.Error("sandbox: render control page", "err", err)
	}
}

func parseControlPage() *template.Template {
	return template.Must(template.New("control").Parse(controlHTML))
}

const controlHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Seam sandbox — at the door</title>
<style nonce="{{.Nonce}}">
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #1a1a1a; max-width: 80rem; }
h1 { font-size: 1.5rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; margin-top: .5rem; }
th, td { border-bottom: 1px solid #ccc; padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
form { display: inline; }
button { margin: .1rem; padding: .2rem .5rem; font: inherit; cursor: pointer; }
.bad { color: #a00000; font-weight: 600; }
.ok { color: #006400; }
.note { color: #555; }
code { font-size: .9em; }
</style>
</head>
<body>
<header>
<h1>Seam sandbox — at the door</h1>
<p class="note">A development control page: what happens here happens at the lock, not through the API.
Every change emits the events real Seam would (see <a href="#events">recent events</a>) and sends them to the
{{.Webhooks}} registered webhook(s).</p>
</header>
<main>
{{range .Accounts}}
<section aria-labelledby="a-{{.ID}}">
<h2 id="a-{{.ID}}">{{.Email}} <span class="note">({{.Provider}})</span> —
{{if .Connected}}<span class="ok">connected</span>{{else}}<span class="bad">disconnected</span>{{end}}</h2>
<p>
{{if .Connected}}<form method="post" action="/control"><input type="hidden" name="op" value="disconnect"><input type="hidden" name="id" value="{{.ID}}"><button type="submit" aria-label="Disconnect account {{.Email}}">Disconnect account</button></form>
{{else}}<form method="post" action="/control"><input type="hidden" name="op" value="reconnect"><input type="hidden" name="id" value="{{.ID}}"><button type="submit" aria-label="Reconnect account {{.Email}}">Reconnect account</button></form>
{{end}}<form method="post" action="/control"><input type="hidden" name="op" value="delete"><input type="hidden" name="id" value="{{.ID}}"><button type="submit" aria-label="Delete account {{.Email}} and its devices">Delete account</button></form>
<span class="note">id <code>{{.ID}}</code></span>
</p>
{{if .Devices}}
<table>
<caption class="note">Devices of {{.Email}}</caption>
<thead><tr><th scope="col">Device</th><th scope="col">Lock</th><th scope="col">Connection</th><th scope="col">Battery</th><th scope="col">Errors and warnings</th><th scope="col">At the door</th></tr></thead>
<tbody>
{{range .Devices}}
<tr id="d-{{.ID}}">
<th scope="row">{{.Name}}<br><span class="note">{{.Model}}{{if not .RemoteUnlock}} · cannot be unlocked remotely{{end}}</span></th>
<td>{{if .Locked}}locked{{else}}<span class="bad">unlocked</span>{{end}}</td>
<td>{{if .Online}}<span class="ok">online</span>{{else}}<span class="bad">offline</span>{{end}}</td>
<td>{{if .LowBattery}}<span class="bad">{{.Battery}}% ({{.BatteryStatus}})</span>{{else}}{{.Battery}}% ({{.BatteryStatus}}){{end}}</td>
<td>{{range .Errors}}<code class="bad">{{.}}</code> {{end}}{{range .Warnings}}<code>{{.}}</code> {{end}}</td>
<td>
{{if .Locked}}<form method="post" action="/control"><input type="hidden" name="op" value="unlock"><input type="hidden" name="id" value="{{.ID}}"><button type="submit" aria-label="Unlock {{.Name}} by hand">Unlock by hand</button></form>
{{else}}<form method="post" action="/control"><input type="hidden" name="op" value="lock"><input type="hidden" name="id" value="{{.ID}}"><button type="submit" aria-label="Lock {{.Name}} by hand">Lock by hand</button></form>
{{end}}{{if .Online}}<form method="post" action="/control"><input type="hidden" name="op" value="offline"><input type="hidden" name="id" value="{{.ID}}"><button type="submit" aria-label="Take {{.Name}} offline">Take offline</button></form>
{{else}}<form method="post" action="/control"><input type="hidden" name="op" value="online"><input type="hidden" name="id" value="{{.ID}}"><button type="submit" aria-label="Bring {{.Name}} online">Bring online</button></form>
{{end}}{{if not .LowBattery}}<form method="post" action="/control"><input type="hidden" name="op" value="drain"><input type="hidden" name="id" value="{{.ID}}"><button type="submit" aria-label="Drain the battery of {{.Name}}">Drain battery</button></form>
{{end}}{{if not .FullBattery}}<form method="post" action="/control"><input type="hidden" name="op" value="restore"><input type="hidden" name="id" value="{{.ID}}"><button type="submit" aria-label="Restore the battery of {{.Name}}">Restore battery</button></form>
{{end}}<form method="post" action="/control"><input type="hidden" name="op" value="remove"><input type="hidden" name="id" value="{{.ID}}"><button type="submit" aria-label="Remove {{.Name}} at the provider">Remove</button></form>
</td>
</tr>
{{end}}
</tbody>
</table>
{{else}}<p class="note">No devices.</p>{{end}}
</section>
{{else}}
<p>No connected accounts yet. Connect one through the portal (the Connect Webview) first.</p>
{{end}}

<section aria-labelledby="events">
<h2 id="events">Recent events</h2>
{{if .Events}}
<table>
<caption class="note">The latest 25 events, newest first</caption>
<thead><tr><th scope="col">Created</th><th scope="col">Event type</th><th scope="col">Device</th><th scope="col">Details</th></tr></thead>
<tbody>
{{range .Events}}<tr><td>{{.At}}</td><td><code>{{.Type}}</code></td><td>{{.Device}}</td><td>{{.Detail}}</td></tr>
{{end}}
</tbody>
</table>
{{else}}<p class="note">No events yet.</p>{{end}}
</section>

<section aria-labelledby="deliveries">
<h2 id="deliveries">Recent webhook deliveries</h2>
{{if .Deliveries}}
<table>
<caption class="note">The latest 15 delivery attempts, newest first</caption>
<thead><tr><th scope="col">Ended</th><th scope="col">Webhook</th><th scope="col">svix-id</th><th scope="col">Event type</th><th scope="col">Attempt</th><th scope="col">Result</th></tr></thead>
<tbody>
{{range .Deliveries}}<tr><td>{{.At}}</td><td><code>{{.Webhook}}</code></td><td><code>{{.MessageID}}</code></td><td><code>{{.EventType}}</code></td><td>{{.Attempt}}</td><td>{{.Result}}</td></tr>
{{end}}
</tbody>
</table>
{{else}}<p class="note">No deliveries yet{{if not .Webhooks}}: no webhook is registered (webhooks/create){{end}}.</p>{{end}}
</section>
</main>
</body>
</html>
`
