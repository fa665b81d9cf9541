package sandbox

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// DefaultAPIKey is the API key the sandbox accepts when Options.APIKey is empty.
const DefaultAPIKey = "seam_sandbox_apikey"

// DefaultActionDelay is how long an action attempt stays pending when
// Options.ActionDelay is zero; about what a real lock takes.
const DefaultActionDelay = 1500 * time.Millisecond

// maxBodyBytes bounds request bodies; Seam's are small JSON objects.
const maxBodyBytes = 1 << 20

// Options configure a Sandbox. The zero value works: default key, real clock.
type Options struct {
	// APIKey is the bearer key clients must send; empty means DefaultAPIKey.
	APIKey string
	// PublicURL is the sandbox's base URL as browsers reach it (scheme://host:port),
	// used in connect_webview.url and image URLs; empty means http:// + the request's Host.
	PublicURL string
	// PortalOrigin is the origin allowed to frame the webview page and to receive its
	// postMessage (e.g. http://127.0.0.1:8080); empty means 'self' for framing and the
	// custom_redirect_url's origin for messages.
	PortalOrigin string
	// ActionDelay is how long an action attempt stays pending: 0 means
	// DefaultActionDelay, a negative value means it completes on the next read.
	ActionDelay time.Duration
	// Now is the sandbox's clock; nil means time.Now. Action attempts complete when
	// Now passes their due time, so tests can move time instead of sleeping.
	Now func() time.Time
	// Logger receives one debug line per API request; nil discards.
	Logger *slog.Logger
	// WebhookRetryDelays are the waits before each retry of a failed webhook
	// delivery; nil means DefaultWebhookRetryDelays, an empty slice no retries.
	WebhookRetryDelays []time.Duration
	// WebhookTimeout bounds one delivery attempt; 0 means DefaultWebhookTimeout.
	WebhookTimeout time.Duration
}

// Sandbox is an in-memory stand-in for the Seam API, safe for concurrent use.
// It implements http.Handler.
type Sandbox struct {
	keyHash      [32]byte
	publicURL    string
	portalOrigin string
	actionDelay  time.Duration
	now          func() time.Time
	realClock    bool
	log          *slog.Logger
	bg           *background
	control      *template.Template
	workspaceID  string
	pages        *template.Template
	routes       map[string]route

	mu sync.Mutex
	st state
}

// New returns a Sandbox with no accounts, devices or client sessions. Call Close
// when done with it if it delivered webhooks or runs on the real clock.
func New(opts Options) *Sandbox {
	s := &Sandbox{
		publicURL:   strings.TrimSuffix(opts.PublicURL, "/"),
		actionDelay: opts.ActionDelay,
		now:         opts.Now,
		log:         opts.Logger,
		workspaceID: uuid.NewString(),
		pages:       parsePages(),
		routes:      apiRoutes(),
		st:          newState(),
	}
	key := opts.APIKey
	if key == "" {
		key = DefaultAPIKey
	}
	s.keyHash = sha256.Sum256([]byte(key))
	if s.actionDelay == 0 {
		s.actionDelay = DefaultActionDelay
	}
	if s.now == nil {
		s.now = time.Now
		s.realClock = true
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.bg = newBackground(opts, s.log)
	s.control = parseControlPage()
	if opts.PortalOrigin != "" {
		if o, ok := originOf(opts.PortalOrigin); ok {
			s.portalOrigin = o
		} else {
			s.log.Warn("sandbox: ignoring invalid portal origin", "portal_origin", opts.PortalOrigin)
		}
	}
	return s
}

// originOf returns scheme://host of an absolute http(s) URL.
func originOf(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", false
	}
	return u.Scheme + "://" + u.Host, true
}

// Call is one API request the sandbox received.
type Call struct {
	Method string
	// Path is the request path, e.g. "/devices/list".
	Path string
	// Body is the JSON body; for GET requests, the query as a JSON object.
	Body json.RawMessage
	At   time.Time
	// Status is the HTTP status answered; 499 when the client went away first.
	Status    int
	RequestID string
}

// statusClientClosed is recorded when a request's context ends before it is answered.
const statusClientClosed = 499

// Calls returns every API request received so far, oldest first. Webview pages and
// assets are not recorded (their form bodies carry passwords).
func (s *Sandbox) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.calls)
}

// CallsTo returns the recorded requests to one path ("devices/list" or "/devices/list").
func (s *Sandbox) CallsTo(path string) []Call {
	path = "/" + strings.TrimPrefix(path, "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.st.calls {
		if c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls forgets the recorded requests.
func (s *Sandbox) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.calls = nil
}

// apiError is a Seam error response.
type apiError struct {
	status int
	body   errorJSON
	header http.Header
}

func (e *apiError) Error() string { return e.body.Type + ": " + e.body.Message }

func newAPIError(status int, typ, msg string) *apiError {
	return &apiError{status: status, body: errorJSON{Type: typ, Message: msg}}
}

func notFound(typ, msg string) *apiError { return newAPIError(http.StatusNotFound, typ, msg) }

// rootIssue is a 400 whose failure is not tied to one field.
func rootIssue(msg string) *apiError { return invalidInput([]issue{{msg: msg}}) }

// reply is a successful API answer: the resource fields besides "ok".
type reply map[string]any

// request is what an endpoint handler gets.
type request struct {
	method string
	p      params
	base   string // the sandbox's base URL for this request
	raw    map[string]any
	now    time.Time
}

// statusRecorder remembers the status written, for the call log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// ServeHTTP answers Seam API requests, the Connect Webview page and its assets.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := "req_" + uuid.NewString()
	w.Header().Set("seam-request-id", reqID)
	switch p := r.URL.Path; {
	case p == webviewPath:
		s.serveWebview(w, r)
		return
	case p == webviewScriptPath || strings.HasPrefix(p, assetsPrefix):
		s.serveAsset(w, r)
		return
	case p == ControlPath:
		s.serveControl(w, r)
		return
	}
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	body, lose := s.serveAPI(rec, r)
	if rec.status == 0 {
		rec.status = statusClientClosed
	}
	s.mu.Lock()
	s.st.calls = append(s.st.calls, Call{
		Method: r.Method, Path: r.URL.Path, Body: body, At: s.now(), Status: rec.status, RequestID: reqID,
	})
	s.mu.Unlock()
	s.log.Debug("sandbox request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
		"duration", time.Since(start), "request_id", reqID)
	if lose {
		panic(http.ErrAbortHandler)
	}
}

// serveAPI answers one API request and returns its body for the call log, and whether
// the answer is to be lost (a LoseAnswer fault).
func (s *Sandbox) serveAPI(w http.ResponseWriter, r *http.Request) (json.RawMessage, bool) {
	rt, ok := s.routes[strings.TrimPrefix(r.URL.Path, "/")]
	if !ok {
		writeError(w, notFound("not_found", "No such endpoint: "+r.URL.Path))
		return nil, false
	}
	if err := s.authenticate(r); err != nil {
		writeError(w, err)
		return nil, false
	}
	if !slices.Contains(rt.methods, r.Method) {
		err := newAPIError(http.StatusMethodNotAllowed, "method_not_allowed", "only "+strings.Join(rt.methods, ",")+" accepted")
		err.header = http.Header{"Allow": {strings.Join(rt.methods, ", ")}}
		writeError(w, err)
		return nil, false
	}
	raw, body, err := readInput(w, r)
	if err != nil {
		writeError(w, err)
		return body, false
	}
	ferr, gone, lose := s.applyFault(r.Context(), r.URL.Path)
	if gone {
		return body, false
	} else if ferr != nil {
		writeError(w, ferr)
		return body, false
	}
	p, issues := validate(raw, rt.fields, r.Method == http.MethodGet)
	if len(issues) > 0 {
		writeError(w, invalidInput(issues))
		return body, false
	}
	req := &request{method: r.Method, p: p, base: s.baseURL(r), raw: raw}

	s.mu.Lock()
	req.now = s.now()
	s.settle(req.now)
	res, aerr := rt.handle(s, req)
	var out []byte
	if aerr == nil {
		res["ok"] = true
		out = marshal(res)
	}
	s.mu.Unlock()

	if lose {
		// Done, but the caller never hears of it: ServeHTTP drops the connection.
		return body, true
	}
	if aerr != nil {
		writeError(w, aerr)
		return body, false
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(out)
	return body, false
}

// marshal encodes v without escaping &, < and >, as Seam does: URLs in webview and
// pagination fields stay readable.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // replies hold only strings, numbers, bools, slices and maps
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func (s *Sandbox) authenticate(r *http.Request) *apiError {
	h := r.Header.Get("Authorization")
	if h == "" {
		return newAPIError(http.StatusUnauthorized, "invalid_api_key", "No Authorization header")
	}
	key, ok := strings.CutPrefix(h, "Bearer ")
	// Hashing first makes the comparison constant-time in the key's length too.
	sum := sha256.Sum256([]byte(strings.TrimSpace(key)))
	if !ok || subtle.ConstantTimeCompare(sum[:], s.keyHash[:]) != 1 {
		return newAPIError(http.StatusUnauthorized, "invalid_api_key", "API key not found")
	}
	return nil
}

// readInput decodes the JSON body (POST, PUT, PATCH) or the query (GET) into an
// object, and returns the raw JSON for the call log.
func readInput(w http.ResponseWriter, r *http.Request) (map[string]any, json.RawMessage, *apiError) {
	if r.Method == http.MethodGet {
		raw := queryObject(r.URL.Query())
		b, _ := json.Marshal(raw)
		return raw, b, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		return nil, nil, newAPIError(http.StatusRequestEntityTooLarge, "invalid_input", "Request body too large")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return map[string]any{}, nil, nil
	}
	if !strings.Contains(r.Header.Get("Content-Type"), "application/json") {
		return nil, b, newAPIError(http.StatusBadRequest, "invalid_content_type",
			r.Method+` requests must have Content-Type header with "application/json"`)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, b, newAPIError(http.StatusBadRequest, "invalid_input", "Invalid JSON")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, b, invalidInput([]issue{{msg: "Expected object, received " + typeName(v)}})
	}
	return obj, b, nil
}

// queryObject reads a query string the way Seam's SDKs write one: repeated keys or
// a "key[]" suffix make arrays.
func queryObject(q url.Values) map[string]any {
	out := make(map[string]any, len(q))
	for k, vals := range q {
		name, isArray := strings.CutSuffix(k, "[]")
		if isArray || len(vals) > 1 {
			list := make([]any, len(vals))
			for i, v := range vals {
				list[i] = v
			}
			out[name] = list
			continue
		}
		out[name] = vals[0]
	}
	return out
}

func (s *Sandbox) baseURL(r *http.Request) string {
	if s.publicURL != "" {
		return s.publicURL
	}
	return "http://" + r.Host
}

func writeError(w http.ResponseWriter, e *apiError) {
	for k, vs := range e.header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	b := marshal(struct {
		Error errorJSON `json:"error"`
		OK    bool      `json:"ok"`
	}{e.body, false})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}
