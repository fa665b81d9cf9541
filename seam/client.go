// Package seam is a typed client for the parts of the Seam Connect API that
// Latchkey uses: client sessions, Connect Webviews, connected accounts,
// devices, locks, action attempts and events.
//
// Every call is POST {endpoint}/{resource}/{action} with a JSON body. Reads
// are retried on network errors, 429, 502, 503 and 504; writes (unlock, lock,
// webview creation, grant access, device update) are sent exactly once,
// because repeating them could open a door twice or create duplicates.
package seam

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultEndpoint is Seam's production API base URL.
const DefaultEndpoint = "https://connect.getseam.com"

const (
	defaultTimeout     = 10 * time.Second
	defaultMaxAttempts = 4
	defaultBaseDelay   = 200 * time.Millisecond
	defaultMaxDelay    = 5 * time.Second
	defaultUserAgent   = "latchkey/dev"
	// defaultMaxPages bounds pagination so a server that always reports
	// another page cannot keep a request busy forever.
	defaultMaxPages = 100
	// maxResponseBytes bounds memory if the server sends an absurd body.
	maxResponseBytes = 16 << 20
	// maxRetryAfterSeconds keeps a huge Retry-After from overflowing a Duration;
	// the value is capped at maxDelay anyway.
	maxRetryAfterSeconds = 24 * 60 * 60
)

// ErrTooManyPages is returned when a listing still has more pages after the
// client's page limit; it usually means the server keeps returning cursors.
var ErrTooManyPages = errors.New("too many pages")

// Client calls the Seam API. It is safe for concurrent use.
type Client struct {
	// ClientSessions manages per-user client sessions.
	ClientSessions *ClientSessions
	// ConnectWebviews creates and reads Connect Webviews.
	ConnectWebviews *ConnectWebviews
	// ConnectedAccounts reads provider accounts connected through webviews.
	ConnectedAccounts *ConnectedAccounts
	// Devices lists, reads and renames devices.
	Devices *Devices
	// Locks locks and unlocks doors.
	Locks *Locks
	// ActionAttempts reads the outcome of lock and unlock requests.
	ActionAttempts *ActionAttempts
	// Events lists device and account events.
	Events *Events
	// Webhooks registers where Seam delivers events.
	Webhooks *Webhooks

	endpoint    string
	httpClient  *http.Client
	timeout     time.Duration
	logger      *slog.Logger
	maxAttempts int
	baseDelay   time.Duration
	maxDelay    time.Duration
	userAgent   string
	maxPages    int
	// observe hears of every HTTP attempt, for metrics.
	observe func(endpoint string, status int, err error, d time.Duration)

	// The API key is captured only by these closures, so printing a Client
	// (fmt's %+v, a debugger dump, a log attribute) cannot reveal it.
	authorize func(http.Header)
	redact    func(string) string

	// Tests replace these so retries neither wait in real time nor depend on randomness.
	sleep  func(ctx context.Context, d time.Duration) error
	now    func() time.Time
	jitter func(limit time.Duration) time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithEndpoint points the client at another base URL, such as a sandbox.
func WithEndpoint(u string) Option {
	return func(c *Client) { c.endpoint = strings.TrimRight(u, "/") }
}

// WithHTTPClient sets the HTTP client used for every request.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.httpClient = hc
		}
	}
}

// WithTimeout bounds each attempt (not the whole call with its retries).
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithLogger sets where retries and per-request debug lines are logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithRetry sets how often reads are attempted and the exponential backoff bounds.
func WithRetry(maxAttempts int, baseDelay, maxDelay time.Duration) Option {
	return func(c *Client) {
		c.maxAttempts = max(maxAttempts, 1)
		c.baseDelay = max(baseDelay, 0)
		c.maxDelay = max(maxDelay, c.baseDelay)
	}
}

// WithUserAgent sets the User-Agent header sent to Seam.
func WithUserAgent(ua string) Option {
	return func(c *Client) {
		if ua != "" {
			c.userAgent = ua
		}
	}
}

// WithObserver has f called after every HTTP attempt (each retry is one) with the
// endpoint, the HTTP status (0 when no response arrived), the attempt's error and how
// long it took. f must be quick: it runs on the caller's goroutine.
func WithObserver(f func(endpoint string, status int, err error, d time.Duration)) Option {
	return func(c *Client) {
		if f != nil {
			c.observe = f
		}
	}
}

// New returns a client that authenticates with apiKey.
func New(apiKey string, opts ...Option) *Client {
	c := &Client{
		endpoint:    DefaultEndpoint,
		httpClient:  &http.Client{},
		timeout:     defaultTimeout,
		logger:      slog.New(slog.DiscardHandler),
		maxAttempts: defaultMaxAttempts,
		baseDelay:   defaultBaseDelay,
		maxDelay:    defaultMaxDelay,
		userAgent:   defaultUserAgent,
		maxPages:    defaultMaxPages,
		sleep:       sleepContext,
		now:         time.Now,
		jitter:      fullJitter,
		observe:     func(string, int, error, time.Duration) {},
	}
	c.authorize = func(h http.Header) { h.Set("Authorization", "Bearer "+apiKey) }
	c.redact = func(s string) string {
		if apiKey == "" {
			return s
		}
		return strings.ReplaceAll(s, apiKey, "[redacted]")
	}
	for _, opt := range opts {
		opt(c)
	}
	c.ClientSessions = &ClientSessions{c: c}
	c.ConnectWebviews = &ConnectWebviews{c: c}
	c.ConnectedAccounts = &ConnectedAccounts{c: c}
	c.Devices = &Devices{c: c}
	c.Locks = &Locks{c: c}
	c.ActionAttempts = &ActionAttempts{c: c}
	c.Events = &Events{c: c}
	c.Webhooks = &Webhooks{c: c}
	return c
}

// isRead reports whether endpoint only reads, so sending it again is harmless.
// Everything else (unlock, lock, create, grant, update) is sent once: after a
// timeout we cannot know whether Seam acted, and a second unlock is not a no-op.
func isRead(endpoint string) bool {
	return strings.HasSuffix(endpoint, "/get") ||
		strings.HasSuffix(endpoint, "/list") ||
		endpoint == "client_sessions/get_or_create"
}

func retryableStatus(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// attempt is the outcome of one HTTP exchange.
type attempt struct {
	body      []byte
	status    int
	requestID string
	err       error
	// retry says whether a read may be sent again after this failure.
	retry bool
	// retryAfter is the server's requested wait; hasRetryAfter says whether it sent one.
	retryAfter    time.Duration
	hasRetryAfter bool
}

// call posts req to endpoint and, on success, decodes the response into out
// (nil when the caller needs nothing but "ok").
func (c *Client) call(ctx context.Context, endpoint string, req, out any) error {
	payload, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("seam %s: encode request: %w", endpoint, err)
	}
	attempts := 1
	if isRead(endpoint) {
		attempts = c.maxAttempts
	}
	for n := 1; ; n++ {
		start := c.now()
		a := c.send(ctx, endpoint, payload)
		c.observe(endpoint, a.status, a.err, c.now().Sub(start))
		if a.err == nil {
			return c.decode(endpoint, a, out)
		}
		if ctx.Err() != nil || !a.retry || n >= attempts {
			return wrapAttempts(endpoint, n, a.err)
		}
		delay := c.retryDelay(n, a)
		if deadline, ok := ctx.Deadline(); ok && c.now().Add(delay).After(deadline) {
			// Sleeping past the caller's deadline would only turn a useful error into a timeout.
			return wrapAttempts(endpoint, n, a.err)
		}
		c.logger.LogAttrs(ctx, slog.LevelWarn, "seam request failed, retrying",
			slog.String("endpoint", endpoint),
			slog.Int("status", a.status),
			slog.Int("attempt", n),
			slog.String("request_id", a.requestID),
			slog.Duration("delay", delay),
			slog.String("error", a.err.Error()),
		)
		if err := c.sleep(ctx, delay); err != nil {
			return fmt.Errorf("seam %s: %w (after %d attempts; last: %w)", endpoint, err, n, a.err)
		}
	}
}

func wrapAttempts(endpoint string, n int, err error) error {
	if n > 1 {
		return fmt.Errorf("seam %s: %d attempts: %w", endpoint, n, err)
	}
	return fmt.Errorf("seam %s: %w", endpoint, err)
}

// send performs one HTTP exchange bounded by the per-attempt timeout.
func (c *Client) send(ctx context.Context, endpoint string, payload []byte) attempt {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.endpoint+"/"+endpoint, bytes.NewReader(payload))
	if err != nil {
		// A malformed endpoint will not fix itself, so this is not retried.
		return attempt{err: fmt.Errorf("build request: %w", err)}
	}
	c.authorize(req.Header)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)

	start := c.now()
	resp, err := c.httpClient.Do(req)
	if err != nil {
		return attempt{err: c.transportError(ctx, err), retry: true}
	}
	defer resp.Body.Close()
	a := attempt{status: resp.StatusCode, requestID: c.redact(resp.Header.Get("seam-request-id"))}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		a.err, a.retry = fmt.Errorf("read response: %w", c.transportError(ctx, err)), true
		return a
	}
	c.logger.LogAttrs(ctx, slog.LevelDebug, "seam request",
		slog.String("endpoint", endpoint),
		slog.Int("status", resp.StatusCode),
		slog.String("request_id", a.requestID),
		slog.Duration("duration", c.now().Sub(start)),
	)
	if len(body) > maxResponseBytes {
		a.err = &Error{Status: a.status, Type: TypeInvalidResponse, Message: "response body larger than 16 MiB", RequestID: a.requestID}
		return a
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		a.retryAfter, a.hasRetryAfter = c.parseRetryAfter(resp.Header.Get("Retry-After"))
		e := c.parseError(a.status, a.requestID, body)
		if a.hasRetryAfter {
			e.RetryAfter = a.retryAfter
		}
		a.err = e
		// Seam asking for a longer wait than we would ever sleep means: not now.
		a.retry = retryableStatus(resp.StatusCode) && (!a.hasRetryAfter || a.retryAfter <= c.maxDelay)
		return a
	}
	a.body = body
	return a
}

// transportError strips net/http's `Post "<url>":` prefix (the endpoint name is
// added by the caller) and says when the per-attempt timeout, not the caller, ended it.
func (c *Client) transportError(ctx context.Context, err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no response within %s: %w", c.timeout, err)
	}
	return err
}

// decode checks the success envelope and unmarshals the body into out.
func (c *Client) decode(endpoint string, a attempt, out any) error {
	var env struct {
		OK    *bool           `json:"ok"`
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(a.body, &env); err != nil {
		return fmt.Errorf("seam %s: %w", endpoint, c.invalidResponse(a, "malformed JSON: "+err.Error()))
	}
	if (env.OK != nil && !*env.OK) || (len(env.Error) > 0 && string(env.Error) != "null") {
		return fmt.Errorf("seam %s: %w", endpoint, c.parseError(a.status, a.requestID, a.body))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(a.body, out); err != nil {
		return fmt.Errorf("seam %s: %w", endpoint, c.invalidResponse(a, "unexpected JSON: "+err.Error()))
	}
	return nil
}

func (c *Client) invalidResponse(a attempt, msg string) *Error {
	return &Error{Status: a.status, Type: TypeInvalidResponse, Message: c.redact(msg), RequestID: a.requestID}
}

// retryDelay honours the server's Retry-After (capped at maxDelay, so a
// server asking for minutes cannot hold a page render hostage) and otherwise
// uses capped exponential backoff with full jitter, so many clients hit by the
// same outage do not retry in lockstep.
func (c *Client) retryDelay(n int, a attempt) time.Duration {
	if a.hasRetryAfter {
		return min(a.retryAfter, c.maxDelay)
	}
	backoff := c.baseDelay
	for i := 1; i < n && backoff < c.maxDelay; i++ {
		backoff *= 2
	}
	return c.jitter(min(backoff, c.maxDelay))
}

// parseRetryAfter reads a Retry-After value in seconds or as an HTTP date.
func (c *Client) parseRetryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, maxRetryAfterSeconds)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(c.now()), 0), true
	}
	return 0, false
}

func fullJitter(limit time.Duration) time.Duration {
	if limit <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(limit) + 1))
}

func sleepContext(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pagination is the paging block of Seam's list responses.
type pagination struct {
	HasNextPage    bool   `json:"has_next_page"`
	NextPageCursor string `json:"next_page_cursor"`
}

// listAll fetches page after page until Seam reports no next page. fetch gets
// the cursor of the page to fetch, "" for the first.
func listAll[T any](c *Client, endpoint string, fetch func(cursor string) ([]T, pagination, error)) ([]T, error) {
	var all []T
	cursor := ""
	for range c.maxPages {
		items, page, err := fetch(cursor)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if !page.HasNextPage {
			return all, nil
		}
		if page.NextPageCursor == "" || page.NextPageCursor == cursor {
			return nil, fmt.Errorf("seam %s: %w", endpoint,
				&Error{Status: http.StatusOK, Type: TypeInvalidResponse, Message: "has_next_page without a new next_page_cursor"})
		}
		cursor = page.NextPageCursor
	}
	return nil, fmt.Errorf("seam %s: more than %d pages: %w", endpoint, c.maxPages, ErrTooManyPages)
}
