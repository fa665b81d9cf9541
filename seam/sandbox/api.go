package sandbox

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// route is one API endpoint. Handlers run with Sandbox.mu held.
type route struct {
	methods []string
	fields  []field
	handle  func(s *Sandbox, req *request) (reply, *apiError)
}

// apiRoutes is the sandbox's endpoint table. Methods follow Seam's OpenAPI: reads
// also answer GET with query parameters.
func apiRoutes() map[string]route {
	postOnly := []string{http.MethodPost}
	getPost := []string{http.MethodGet, http.MethodPost}
	sessionFields := []field{
		{name: "user_identifier_key", kind: kindNonEmpty},
		{name: "connect_webview_ids", kind: kindStrings},
		{name: "connected_account_ids", kind: kindStrings},
		{name: "expires_at", kind: kindDate},
	}
	page := []field{{name: "limit", kind: kindLimit}, {name: "page_cursor", kind: kindString, nullable: true}}
	deviceID := []field{{name: "device_id", kind: kindUUID, required: true}, {name: "sync", kind: kindBool}}
	return map[string]route{
		"client_sessions/get_or_create": {[]string{http.MethodPost, http.MethodPut}, sessionFields, (*Sandbox).clientSessionGetOrCreate},
		"client_sessions/create":        {[]string{http.MethodPost, http.MethodPut}, sessionFields, (*Sandbox).clientSessionCreate},
		"client_sessions/get": {getPost, []field{
			{name: "client_session_id", kind: kindUUID},
			{name: "user_identifier_key", kind: kindString},
		}, (*Sandbox).clientSessionGet},
		"client_sessions/grant_access": {[]string{http.MethodPost, http.MethodPatch}, []field{
			{name: "client_session_id", kind: kindString},
			{name: "user_identifier_key", kind: kindString},
			{name: "connect_webview_ids", kind: kindStrings},
			{name: "connected_account_ids", kind: kindStrings},
		}, (*Sandbox).clientSessionGrantAccess},
		"connect_webviews/create": {postOnly, []field{
			{name: "custom_redirect_url", kind: kindString},
			{name: "custom_redirect_failure_url", kind: kindString},
			{name: "wait_for_device_creation", kind: kindBool},
			{name: "automatically_manage_new_devices", kind: kindBool},
			{name: "accepted_providers", kind: kindProviders},
			{name: "custom_metadata", kind: kindMetadata},
		}, (*Sandbox).connectWebviewCreate},
		"connect_webviews/get": {getPost, []field{
			{name: "connect_webview_id", kind: kindUUID, required: true},
		}, (*Sandbox).connectWebviewGet},
		"connected_accounts/get": {getPost, []field{
			{name: "connected_account_id", kind: kindUUID},
			{name: "email", kind: kindString},
		}, (*Sandbox).connectedAccountGet},
		"connected_accounts/delete": {[]string{http.MethodPost, http.MethodDelete}, []field{
			{name: "connected_account_id", kind: kindUUID, required: true},
			{name: "sync", kind: kindBool},
		}, (*Sandbox).connectedAccountDelete},
		"connected_accounts/list": {getPost, append([]field{
			{name: "user_identifier_key", kind: kindString},
		}, page...), (*Sandbox).connectedAccountList},
		"devices/list": {getPost, append([]field{
			{name: "user_identifier_key", kind: kindString},
			{name: "device_ids", kind: kindUUIDs},
			{name: "connected_account_id", kind: kindUUID},
			{name: "connected_account_ids", kind: kindUUIDs},
			{name: "connect_webview_id", kind: kindUUID},
		}, page...), (*Sandbox).deviceList},
		"devices/get": {getPost, []field{
			{name: "device_id", kind: kindUUID},
			{name: "name", kind: kindString},
		}, (*Sandbox).deviceGet},
		"devices/update": {[]string{http.MethodPost, http.MethodPatch}, []field{
			{name: "device_id", kind: kindUUID, required: true},
			{name: "name", kind: kindString, nullable: true},
			{name: "custom_metadata", kind: kindMetadata},
		}, (*Sandbox).deviceUpdate},
		"locks/unlock_door": {postOnly, deviceID, func(s *Sandbox, req *request) (reply, *apiError) {
			return s.startAction(req, actionUnlock)
		}},
		"locks/lock_door": {postOnly, deviceID, func(s *Sandbox, req *request) (reply, *apiError) {
			return s.startAction(req, actionLock)
		}},
		"action_attempts/get": {getPost, []field{
			{name: "action_attempt_id", kind: kindUUID, required: true},
		}, (*Sandbox).actionAttemptGet},
		"webhooks/create": {postOnly, []field{
			{name: "url", kind: kindString, required: true},
			{name: "event_types", kind: kindStrings},
		}, (*Sandbox).webhookCreate},
		"webhooks/get": {getPost, []field{
			{name: "webhook_id", kind: kindString, required: true},
		}, (*Sandbox).webhookGet},
		"webhooks/list": {getPost, nil, (*Sandbox).webhookList},
		"webhooks/update": {[]string{http.MethodPost, http.MethodPut}, []field{
			{name: "webhook_id", kind: kindString, required: true},
			{name: "event_types", kind: kindStrings, required: true},
		}, (*Sandbox).webhookUpdate},
		"webhooks/delete": {[]string{http.MethodPost, http.MethodDelete}, []field{
			{name: "webhook_id", kind: kindString, required: true},
		}, (*Sandbox).webhookDelete},
		"events/list": {getPost, []field{
			{name: "since", kind: kindDate},
			{name: "between", kind: kindBetween},
			{name: "device_id", kind: kindUUID},
			{name: "device_ids", kind: kindUUIDs},
			{name: "connected_account_id", kind: kindUUID},
			{name: "event_type", kind: kindString},
			{name: "event_types", kind: kindStrings},
			{name: "limit", kind: kindLimit},
		}, (*Sandbox).eventList},
	}
}

// --- client sessions -------------------------------------------------------------

func (s *Sandbox) clientSessionGetOrCreate(req *request) (reply, *apiError) {
	key, hasKey := req.p.str("user_identifier_key"), req.p.has("user_identifier_key")
	cs := s.st.sessionByKey[key]
	if !hasKey || cs == nil {
		cs = s.st.newSession(key, hasKey, req.now)
	}
	return s.finishSession(req, cs)
}

func (s *Sandbox) clientSessionCreate(req *request) (reply, *apiError) {
	key, hasKey := req.p.str("user_identifier_key"), req.p.has("user_identifier_key")
	cs := s.st.sessionByKey[key]
	if hasKey && cs != nil {
		// Seam's own behaviour: POST refuses a second session for a key, PUT returns it.
		if req.method != http.MethodPut {
			return nil, newAPIError(http.StatusBadRequest, "client_session_token_already_exists",
				"A client session token already exists for this user, try using /client_sessions/get_or_create")
		}
		return s.finishSession(req, cs)
	}
	return s.finishSession(req, s.st.newSession(key, hasKey, req.now))
}

// finishSession applies the grants and expiry a create/get_or_create body carries.
func (s *Sandbox) finishSession(req *request, cs *clientSession) (reply, *apiError) {
	if err := s.grant(cs, req.p.strs("connect_webview_ids"), req.p.strs("connected_account_ids")); err != nil {
		return nil, err
	}
	if t, ok := req.p.time("expires_at"); ok {
		cs.expires = t
	}
	return reply{"client_session": s.st.sessionJSON(cs, s.workspaceID)}, nil
}

// grant checks every id before granting any, so a bad id changes nothing.
func (s *Sandbox) grant(cs *clientSession, webviewIDs, accountIDs []string) *apiError {
	for _, id := range webviewIDs {
		if _, ok := s.st.webviews[id]; !ok {
			return notFound("connect_webview_not_found", "Connect webview not found")
		}
	}
	for _, id := range accountIDs {
		if _, ok := s.st.accounts[id]; !ok {
			return notFound("connected_account_not_found", "Connected account not found")
		}
	}
	for _, id := range webviewIDs {
		s.st.grantWebview(cs, s.st.webviews[id])
	}
	for _, id := range accountIDs {
		s.st.grantAccount(cs, id)
	}
	return nil
}

func (s *Sandbox) findSession(req *request) (*clientSession, *apiError) {
	var cs *clientSession
	switch {
	case req.p.has("client_session_id"):
		cs = s.st.sessions[req.p.str("client_session_id")]
	case req.p.has("user_identifier_key"):
		cs = s.st.sessionByKey[req.p.str("user_identifier_key")]
	default:
		return nil, rootIssue("Either client_session_id or user_identifier_key is required")
	}
	if cs == nil {
		return nil, notFound("client_session_not_found", "Could not find client session")
	}
	return cs, nil
}

func (s *Sandbox) clientSessionGet(req *request) (reply, *apiError) {
	cs, err := s.findSession(req)
	if err != nil {
		return nil, err
	}
	return reply{"client_session": s.st.sessionJSON(cs, s.workspaceID)}, nil
}

func (s *Sandbox) clientSessionGrantAccess(req *request) (reply, *apiError) {
	cs, err := s.findSession(req)
	if err != nil {
		return nil, err
	}
	if err := s.grant(cs, req.p.strs("connect_webview_ids"), req.p.strs("connected_account_ids")); err != nil {
		return nil, err
	}
	return reply{"client_session": s.st.sessionJSON(cs, s.workspaceID)}, nil
}

// --- connect webviews ------------------------------------------------------------

func (s *Sandbox) connectWebviewCreate(req *request) (reply, *apiError) {
	id := uuid.NewString()
	token := secretToken()
	providers := req.p.strs("accepted_providers")
	if !req.p.has("accepted_providers") {
		providers = []string{"august", "schlage"}
	}
	meta := req.p.meta("custom_metadata")
	if meta == nil {
		meta = map[string]any{}
	}
	manage := true
	if req.p.has("automatically_manage_new_devices") {
		manage = req.p.boolean("automatically_manage_new_devices")
	}
	wv := &webview{
		authToken: token,
		json: connectWebviewJSON{
			ConnectWebviewID:              id,
			WorkspaceID:                   s.workspaceID,
			CreatedAt:                     stamp(req.now),
			URL:                           req.base + webviewPath + "?connect_webview_id=" + id + "&auth_token=" + token,
			Status:                        "pending",
			CustomRedirectURL:             optional(req.p, "custom_redirect_url"),
			CustomRedirectFailureURL:      optional(req.p, "custom_redirect_failure_url"),
			CustomMetadata:                meta,
			AcceptedProviders:             providers,
			AcceptedCapabilities:          []string{"lock"},
			AcceptedDevices:               []string{},
			DeviceSelectionMode:           "none",
			AutomaticallyManageNewDevices: manage,
			WaitForDeviceCreation:         req.p.boolean("wait_for_device_creation"),
		},
	}
	s.st.webviews[id] = wv
	return reply{"connect_webview": wv.json}, nil
}

func optional(p params, name string) *string {
	if !p.has(name) {
		return nil
	}
	v := p.str(name)
	return &v
}

func (s *Sandbox) connectWebviewGet(req *request) (reply, *apiError) {
	wv, ok := s.st.webviews[req.p.str("connect_webview_id")]
	if !ok {
		return nil, notFound("connect_webview_not_found", "Connect webview not found")
	}
	return reply{"connect_webview": wv.json}, nil
}

// --- connected accounts ----------------------------------------------------------

func (s *Sandbox) connectedAccountGet(req *request) (reply, *apiError) {
	switch {
	case req.p.has("connected_account_id"):
		if acc, ok := s.st.accounts[req.p.str("connected_account_id")]; ok {
			return reply{"connected_account": acc.json}, nil
		}
	case req.p.has("email"):
		for _, acc := range s.st.accountOrder {
			if acc.json.UserIdentifier.Email == req.p.str("email") {
				return reply{"connected_account": acc.json}, nil
			}
		}
	default:
		// Seam's message when neither branch of its oneOf matches.
		err := invalidInput([]issue{{path: []string{"connected_account_id"}, msg: "Required"}, {path: []string{"email"}, msg: "Required"}})
		err.body.Message = "Invalid input"
		return nil, err
	}
	return nil, notFound("connected_account_not_found", "Connected account not found")
}

// connectedAccountDelete deletes the account and its devices, as Seam does: each
// device.deleted, then connected_account.deleted; no client session sees it again.
func (s *Sandbox) connectedAccountDelete(req *request) (reply, *apiError) {
	acc, ok := s.st.accounts[req.p.str("connected_account_id")]
	if !ok {
		return nil, notFound("connected_account_not_found", "Connected account not found")
	}
	s.deleteAccount(acc, req.now)
	for _, cs := range s.st.sessions {
		cs.accountIDs = slices.DeleteFunc(cs.accountIDs, func(id string) bool { return id == acc.json.ConnectedAccountID })
	}
	return reply{}, nil
}

func (s *Sandbox) connectedAccountList(req *request) (reply, *apiError) {
	var owned map[string]bool
	if req.p.has("user_identifier_key") {
		owned = map[string]bool{}
		if cs := s.st.sessionByKey[req.p.str("user_identifier_key")]; cs != nil {
			owned = s.st.sessionAccounts(cs)
		}
	}
	all := make([]*account, 0, len(s.st.accountOrder))
	for _, acc := range s.st.accountOrder {
		if owned == nil || owned[acc.json.ConnectedAccountID] {
			all = append(all, acc)
		}
	}
	pg, err := paginate(req, "connected_accounts/list", []string{"user_identifier_key"}, all, func(a *account) uint64 { return a.seq }, 11000)
	if err != nil {
		return nil, err
	}
	out := make([]connectedAccountJSON, len(pg.items))
	for i, a := range pg.items {
		out[i] = a.json
	}
	return reply{"connected_accounts": out, "pagination": pg.pagination}, nil
}

// --- devices ---------------------------------------------------------------------

func (s *Sandbox) deviceList(req *request) (reply, *apiError) {
	p := req.p
	// Unlike Seam's fake, user_identifier_key really filters: a user sees the devices
	// of the accounts granted to their client session, and none without a session.
	var owned map[string]bool
	if p.has("user_identifier_key") {
		owned = map[string]bool{}
		if cs := s.st.sessionByKey[p.str("user_identifier_key")]; cs != nil {
			owned = s.st.sessionAccounts(cs)
		}
	}
	accountIDs := p.strs("connected_account_ids")
	if p.has("connected_account_id") {
		accountIDs = append(accountIDs, p.str("connected_account_id"))
	}
	webviewAccount := ""
	if p.has("connect_webview_id") {
		if wv, ok := s.st.webviews[p.str("connect_webview_id")]; ok && wv.json.ConnectedAccountID != nil {
			webviewAccount = *wv.json.ConnectedAccountID
		} else {
			webviewAccount = "\x00none" // a pending or unknown webview has no devices
		}
	}
	all := make([]*device, 0, len(s.st.deviceOrder))
	for _, d := range s.st.deviceOrder {
		acc := d.json.ConnectedAccountID
		switch {
		case owned != nil && !owned[acc]:
		case p.has("device_ids") && !slices.Contains(p.strs("device_ids"), d.json.DeviceID):
		case len(accountIDs) > 0 && !slices.Contains(accountIDs, acc):
		case webviewAccount != "" && webviewAccount != acc:
		default:
			all = append(all, d)
		}
	}
	filters := []string{"user_identifier_key", "device_ids", "connected_account_id", "connected_account_ids", "connect_webview_id"}
	pg, err := paginate(req, "devices/list", filters, all, func(d *device) uint64 { return d.seq }, 500)
	if err != nil {
		return nil, err
	}
	out := make([]deviceJSON, len(pg.items))
	for i, d := range pg.items {
		out[i] = d.render(req.base)
	}
	return reply{"devices": out, "pagination": pg.pagination}, nil
}

func (s *Sandbox) deviceGet(req *request) (reply, *apiError) {
	switch {
	case req.p.has("device_id"):
		if d, ok := s.st.devices[req.p.str("device_id")]; ok {
			return reply{"device": d.render(req.base)}, nil
		}
	case req.p.has("name"):
		for _, d := range s.st.deviceOrder {
			if d.json.DisplayName == req.p.str("name") {
				return reply{"device": d.render(req.base)}, nil
			}
		}
	default:
		return nil, rootIssue("Either 'device_id' or 'name' is required")
	}
	return nil, notFound("device_not_found", "Device not found")
}

func (s *Sandbox) deviceUpdate(req *request) (reply, *apiError) {
	d, ok := s.st.devices[req.p.str("device_id")]
	if !ok {
		return nil, notFound("device_not_found", "Device not found")
	}
	if _, present := req.raw["name"]; present {
		if name := req.p.str("name"); req.p.has("name") && name != "" {
			d.json.Nickname = &name
			d.json.DisplayName = name
			d.json.Properties.Name = name
		} else {
			// A null or empty name goes back to the provider's name.
			d.json.Nickname = nil
			d.json.DisplayName = d.json.Properties.Appearance.Name
			d.json.Properties.Name = d.json.Properties.Appearance.Name
		}
	}
	if m := req.p.meta("custom_metadata"); m != nil {
		merged := make(map[string]any, len(d.json.CustomMetadata)+len(m))
		for k, v := range d.json.CustomMetadata {
			merged[k] = v
		}
		for k, v := range m {
			if v == nil {
				delete(merged, k)
				continue
			}
			merged[k] = v
		}
		d.json.CustomMetadata = merged
	}
	return reply{}, nil
}

// --- action attempts and events --------------------------------------------------

func (s *Sandbox) actionAttemptGet(req *request) (reply, *apiError) {
	id := req.p.str("action_attempt_id")
	a, ok := s.st.attempts[id]
	if !ok {
		e := notFound("action_attempt_not_found", "action_attempt not found")
		e.body.Data = map[string]any{"action_attempt_id": id}
		return nil, e
	}
	return reply{"action_attempt": a.json}, nil
}

func (s *Sandbox) eventList(req *request) (reply, *apiError) {
	p := req.p
	since, hasSince := p.time("since")
	between, hasBetween := p["between"].([2]time.Time)
	switch {
	case !hasSince && !hasBetween:
		return nil, rootIssue("Must specify either since or between")
	case hasSince && hasBetween:
		return nil, rootIssue("Cannot specify both since and between")
	}
	deviceIDs := p.strs("device_ids")
	if p.has("device_id") {
		deviceIDs = append(deviceIDs, p.str("device_id"))
	}
	types := p.strs("event_types")
	if p.has("event_type") {
		types = append(types, p.str("event_type"))
	}
	// Newest first (by created_at), so that limit keeps the most recent events.
	// since is inclusive (created at or after it); between is exclusive at both ends.
	var out []eventJSON
	for i := len(s.st.events) - 1; i >= 0; i-- {
		e := s.st.events[i]
		switch {
		case hasSince && e.created.Before(since):
		case hasBetween && (!e.created.After(between[0]) || !e.created.Before(between[1])):
		case len(deviceIDs) > 0 && !slices.Contains(deviceIDs, e.json.DeviceID):
		case len(types) > 0 && !slices.Contains(types, e.json.EventType):
		case p.has("connected_account_id") && e.json.ConnectedAccountID != p.str("connected_account_id"):
		default:
			out = append(out, e.json)
		}
	}
	slices.SortStableFunc(out, func(a, b eventJSON) int { return -cmp.Compare(a.CreatedAt, b.CreatedAt) })
	if limit := p.integer("limit", 500); len(out) > limit {
		out = out[:limit]
	}
	if out == nil {
		out = []eventJSON{}
	}
	return reply{"events": out}, nil
}

// --- pagination ------------------------------------------------------------------

type page[T any] struct {
	items      []T
	pagination paginationJSON
}

// cursor is what a page_cursor encodes: the sequence number of the last item
// returned and a digest of the filters, so a cursor cannot be replayed with others.
type cursor struct {
	After   uint64 `json:"after"`
	Filters string `json:"filters"`
}

func paginate[T any](req *request, endpoint string, filters []string, all []T, seq func(T) uint64, defLimit int) (page[T], *apiError) {
	digest := filterDigest(req.raw, filters)
	var after uint64
	if req.p.has("page_cursor") {
		raw, err := base64.StdEncoding.DecodeString(req.p.str("page_cursor"))
		if err != nil {
			return page[T]{}, invalidInput([]issue{{path: []string{"page_cursor"}, msg: "Invalid base64"}})
		}
		var c cursor
		if err := json.Unmarshal(raw, &c); err != nil {
			return page[T]{}, invalidInput([]issue{{path: []string{"page_cursor"}, msg: "Invalid page cursor"}})
		}
		if c.Filters != digest {
			return page[T]{}, newAPIError(http.StatusBadRequest, "mismatched_page_parameters",
				"The page_cursor was issued for a request with other parameters")
		}
		after = c.After
	}
	start, _ := slices.BinarySearchFunc(all, after, func(item T, target uint64) int { return cmp.Compare(seq(item), target+1) })
	rest := all[start:]
	limit := req.p.integer("limit", defLimit)
	pg := page[T]{items: rest}
	if len(rest) > limit {
		pg.items = rest[:limit]
		b, _ := json.Marshal(cursor{After: seq(pg.items[len(pg.items)-1]), Filters: digest})
		next := base64.StdEncoding.EncodeToString(b)
		q := filterQuery(req.raw, filters)
		q.Set("limit", strconv.Itoa(limit))
		q.Set("page_cursor", next)
		nextURL := req.base + "/" + endpoint + "?" + q.Encode()
		pg.pagination = paginationJSON{HasNextPage: true, NextPageCursor: &next, NextPageURL: &nextURL}
	}
	if pg.items == nil {
		pg.items = []T{}
	}
	return pg, nil
}

func filterDigest(raw map[string]any, filters []string) string {
	h := sha256.New()
	for _, f := range filters {
		b, _ := json.Marshal(raw[f])
		h.Write([]byte(f))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// filterQuery writes a request's filters as a query string that the sandbox reads
// back (see queryObject), so next_page_url can be fetched with GET.
func filterQuery(raw map[string]any, filters []string) url.Values {
	q := url.Values{}
	for _, f := range filters {
		switch v := raw[f].(type) {
		case string:
			q.Set(f, v)
		case []any:
			for _, item := range v {
				if s, ok := item.(string); ok {
					q.Add(f+"[]", s)
				}
			}
		}
	}
	return q
}
