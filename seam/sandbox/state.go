package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"time"

	"github.com/google/uuid"
)

// state is everything the sandbox remembers. It is guarded by Sandbox.mu.
type state struct {
	seq          uint64
	sessions     map[string]*clientSession
	sessionByKey map[string]*clientSession
	webviews     map[string]*webview
	webhooks     []*webhookJSON
	accounts     map[string]*account
	accountOrder []*account
	devices      map[string]*device
	deviceOrder  []*device
	attempts     map[string]*attempt
	pending      []*attempt
	events       []*event
	failNext     map[string]actionAttemptError
	faults       []*activeFault
	calls        []Call
}

func newState() state {
	return state{
		sessions:     map[string]*clientSession{},
		sessionByKey: map[string]*clientSession{},
		webviews:     map[string]*webview{},
		accounts:     map[string]*account{},
		devices:      map[string]*device{},
		attempts:     map[string]*attempt{},
		failNext:     map[string]actionAttemptError{},
	}
}

type clientSession struct {
	id         string
	key        string
	hasKey     bool
	token      string
	created    time.Time
	expires    time.Time
	webviewIDs []string
	accountIDs []string
}

type webview struct {
	json         connectWebviewJSON
	authToken    string
	errorCode    string
	errorMessage string
}

type account struct {
	seq  uint64
	json connectedAccountJSON
}

type device struct {
	seq       uint64
	json      deviceJSON
	imagePath string
	// offline is the device's own connection; properties.online is also false
	// while its account is disconnected (see Sandbox.syncDevice).
	offline bool
}

type event struct {
	created time.Time
	json    eventJSON
}

// secretToken returns a random token for webview links and client sessions.
func secretToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	return hex.EncodeToString(b)
}

func (st *state) nextSeq() uint64 {
	st.seq++
	return st.seq
}

// newSession creates a client session; key is empty for a session without a
// user_identifier_key.
func (st *state) newSession(key string, hasKey bool, now time.Time) *clientSession {
	cs := &clientSession{
		id:      uuid.NewString(),
		key:     key,
		hasKey:  hasKey,
		token:   "seam_cst_" + secretToken(),
		created: now,
		expires: now.Add(24 * time.Hour),
	}
	st.sessions[cs.id] = cs
	if hasKey {
		st.sessionByKey[key] = cs
	}
	return cs
}

// grantWebview gives a session a webview and, if the webview is already authorized,
// the account it created.
func (st *state) grantWebview(cs *clientSession, wv *webview) {
	if !slices.Contains(cs.webviewIDs, wv.json.ConnectWebviewID) {
		cs.webviewIDs = append(cs.webviewIDs, wv.json.ConnectWebviewID)
	}
	if wv.json.ConnectedAccountID != nil {
		st.grantAccount(cs, *wv.json.ConnectedAccountID)
	}
}

func (st *state) grantAccount(cs *clientSession, accountID string) {
	if !slices.Contains(cs.accountIDs, accountID) {
		cs.accountIDs = append(cs.accountIDs, accountID)
	}
}

// sessionAccounts is the set of connected accounts a session may see.
func (st *state) sessionAccounts(cs *clientSession) map[string]bool {
	set := make(map[string]bool, len(cs.accountIDs))
	for _, id := range cs.accountIDs {
		set[id] = true
	}
	return set
}

func (st *state) deviceCount(cs *clientSession) int {
	owned := st.sessionAccounts(cs)
	n := 0
	for _, d := range st.deviceOrder {
		if owned[d.json.ConnectedAccountID] {
			n++
		}
	}
	return n
}

func (st *state) sessionJSON(cs *clientSession, workspaceID string) clientSessionJSON {
	out := clientSessionJSON{
		ClientSessionID:     cs.id,
		WorkspaceID:         workspaceID,
		CreatedAt:           stamp(cs.created),
		ExpiresAt:           stamp(cs.expires),
		Token:               cs.token,
		DeviceCount:         st.deviceCount(cs),
		ConnectedAccountIDs: append([]string{}, cs.accountIDs...),
		ConnectWebviewIDs:   append([]string{}, cs.webviewIDs...),
		UserIdentityIDs:     []string{},
	}
	if cs.hasKey {
		k := cs.key
		out.UserIdentifierKey = &k
	}
	return out
}

// accountOptions shape a new connected account.
type accountOptions struct {
	email        string
	brand        brand
	locks        []lockSpec
	disconnected bool
}

// addAccount creates a connected account with fresh devices and returns it.
func (st *state) addAccount(workspaceID string, opts accountOptions, now time.Time) (*account, []string) {
	created := stamp(now)
	acc := &account{
		seq: st.nextSeq(),
		json: connectedAccountJSON{
			ConnectedAccountID:            uuid.NewString(),
			AccountType:                   opts.brand.key,
			AccountTypeDisplayName:        opts.brand.name,
			DisplayName:                   opts.email,
			UserIdentifier:                userIdentifierJSON{Email: opts.email},
			CreatedAt:                     created,
			Errors:                        []accountError{},
			Warnings:                      []deviceWarning{},
			CustomMetadata:                map[string]any{},
			AutomaticallyManageNewDevices: true,
			AcceptedCapabilities:          []string{"lock"},
		},
	}
	if opts.disconnected {
		acc.json.Errors = append(acc.json.Errors, accountError{
			ErrorCode:               errCodeAccountDisconnected,
			Message:                 accountDisconnectedMessage,
			IsConnectedAccountError: true,
			CreatedAt:               created,
		})
	}
	st.accounts[acc.json.ConnectedAccountID] = acc
	st.accountOrder = append(st.accountOrder, acc)

	ids := make([]string, 0, len(opts.locks))
	for _, spec := range opts.locks {
		d := st.addDevice(workspaceID, acc, opts.brand, spec, opts.disconnected, now)
		ids = append(ids, d.json.DeviceID)
	}
	return acc, ids
}

func (st *state) addDevice(workspaceID string, acc *account, b brand, spec lockSpec, disconnected bool, now time.Time) *device {
	created := stamp(now)
	d := &device{
		seq:       st.nextSeq(),
		imagePath: "/assets/devices/" + b.deviceType + ".svg",
		offline:   !spec.online,
		json: deviceJSON{
			DeviceID:                    uuid.NewString(),
			DeviceType:                  b.deviceType,
			DisplayName:                 spec.name,
			ConnectedAccountID:          acc.json.ConnectedAccountID,
			WorkspaceID:                 workspaceID,
			CreatedAt:                   created,
			CapabilitiesSupported:       []string{"access_code", "lock"},
			CanRemotelyUnlock:           spec.canRemotelyUnlock,
			CanRemotelyLock:             true,
			CanProgramOnlineAccessCodes: true,
			IsManaged:                   true,
			CustomMetadata:              map[string]any{},
			SpaceIDs:                    []string{},
			Errors:                      []deviceError{},
			Warnings:                    []deviceWarning{},
			Properties: deviceProperties{
				Name:         spec.name,
				Appearance:   appearanceJSON{Name: spec.name},
				Online:       spec.online && !disconnected,
				Locked:       spec.locked,
				BatteryLevel: spec.battery,
				Battery:      batteryJSON{Level: spec.battery, Status: batteryStatus(spec.battery)},
				Model:        modelJSON{DisplayName: b.model, ManufacturerDisplayName: b.name},
				Manufacturer: b.manufacturer,
				ImageAltText: b.model,
			},
		},
	}
	switch {
	case disconnected:
		d.json.Errors = append(d.json.Errors, connectionError(errCodeAccountDisconnected, created))
	case !spec.online:
		d.json.Errors = append(d.json.Errors, connectionError(errCodeDeviceDisconnected, created))
	}
	applyBattery(d, spec.battery, now)
	st.devices[d.json.DeviceID] = d
	st.deviceOrder = append(st.deviceOrder, d)
	return d
}

// render returns the device as Seam would send it, with image_url made absolute.
func (d *device) render(base string) deviceJSON {
	out := d.json
	out.Properties.ImageURL = base + d.imagePath
	return out
}
