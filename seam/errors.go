package seam

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// TypeInvalidResponse is the Error.Type the client uses when a response could
// not be understood (not JSON, missing the expected resource, …).
const TypeInvalidResponse = "invalid_response"

// maxSnippet bounds how much of a non-JSON body is quoted in an error.
const maxSnippet = 120

// Error is a failure reported by Seam, or a response the client could not
// understand. Find it with errors.As; RequestID lets Seam support find the call.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Type is Seam's error type, e.g. "device_not_found", or TypeInvalidResponse.
	Type string
	// Message is Seam's human-readable description.
	Message string
	// RequestID is the seam-request-id response header.
	RequestID string
	// ValidationErrors is Seam's validation_errors object, as sent.
	ValidationErrors json.RawMessage
	// RetryAfter is how long Seam asked the client to wait (its Retry-After header),
	// or zero when it did not say.
	RetryAfter time.Duration
}

// Error formats the failure; it never contains the API key because every
// server-supplied string is redacted when the Error is built.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(cmp.Or(e.Type, "error"))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	fmt.Fprintf(&b, " (HTTP %d", e.Status)
	if e.RequestID != "" {
		fmt.Fprintf(&b, ", request id %s", e.RequestID)
	}
	b.WriteString(")")
	return b.String()
}

// IsNotFound reports whether err is a Seam 404 or a "…_not_found" error type
// (Seam uses 400 for some of those, e.g. client_session_not_found on some paths).
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Status == http.StatusNotFound || strings.HasSuffix(e.Type, "_not_found"))
}

// IsUnauthorized reports whether Seam rejected the API key or its permissions (401 or 403).
func IsUnauthorized(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden)
}

// RetryAfter is how long Seam asked to wait before the next call, if err carries it.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

// IsRateLimited reports whether Seam answered 429 Too Many Requests.
func IsRateLimited(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusTooManyRequests
}

// parseError builds an Error from Seam's failure envelope
// {"error":{"type","message","validation_errors"},"ok":false}.
func (c *Client) parseError(status int, requestID string, body []byte) *Error {
	var env struct {
		Error *struct {
			Type             string          `json:"type"`
			Message          string          `json:"message"`
			ValidationErrors json.RawMessage `json:"validation_errors"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Error == nil {
		return &Error{
			Status:    status,
			Type:      TypeInvalidResponse,
			Message:   "no Seam error envelope in body " + c.snippet(body),
			RequestID: requestID,
		}
	}
	e := &Error{
		Status:    status,
		Type:      c.redact(env.Error.Type),
		Message:   c.redact(env.Error.Message),
		RequestID: requestID,
	}
	if v := env.Error.ValidationErrors; len(v) > 0 && string(v) != "null" {
		e.ValidationErrors = json.RawMessage(c.redact(string(v)))
	}
	return e
}

// snippet quotes the start of a body for diagnosis (an HTML page from a proxy,
// a bare "404"). Redacting before truncating means no fragment of the key survives.
func (c *Client) snippet(body []byte) string {
	s := strings.ToValidUTF8(c.redact(string(body)), "\uFFFD")
	if len(s) > maxSnippet {
		cut := maxSnippet
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// missing reports a success response without the resource it must carry;
// treating it as empty would, say, show a user an empty device list as fact.
func missing(endpoint, key string) error {
	return fmt.Errorf("seam %s: %w", endpoint,
		&Error{Status: http.StatusOK, Type: TypeInvalidResponse, Message: "response has no " + key})
}

// errMissingID refuses to send a request whose required ID is empty: Seam
// would reject it anyway, and for some endpoints an empty ID changes the meaning.
func errMissingID(endpoint, field string) error {
	return fmt.Errorf("seam %s: %s is required", endpoint, field)
}
