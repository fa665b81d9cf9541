// Package request carries per-request facts (request id, client address and user agent,
// signed-in user id) through the context, so the access log written by the outermost
// middleware can name the user that an inner middleware found, and the domain packages
// can name the client in the audit trail without seeing an *http.Request.
package request

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync/atomic"
	"time"
)

// Info is the mutable record of one request, shared by every layer that sees it.
type Info struct {
	// ID is the request id, also sent to the client as X-Request-Id.
	ID string
	// RemoteAddr is the client's address (after trusted proxies), without a port.
	RemoteAddr string
	// UserAgent is the client's User-Agent header.
	UserAgent string
	// SeamDeadline is when every Seam call made for this request must have ended, so
	// that no page waits longer however Seam fails; zero outside a request.
	SeamDeadline time.Time
	userID       atomic.Value
}

// SetUserID records the signed-in user for the access log.
func (i *Info) SetUserID(id string) { i.userID.Store(id) }

// UserID is the signed-in user's id, or "" for an anonymous request.
func (i *Info) UserID() string {
	v, _ := i.userID.Load().(string)
	return v
}

type infoKey struct{}

// NewID returns a random 16-byte request id in hex.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// With returns a context carrying info.
func With(ctx context.Context, info *Info) context.Context {
	return context.WithValue(ctx, infoKey{}, info)
}

// From returns the request's info, or an empty one outside a request.
func From(ctx context.Context) *Info {
	if info, ok := ctx.Value(infoKey{}).(*Info); ok {
		return info
	}
	return &Info{}
}

// ID is the request id in ctx, or "".
func ID(ctx context.Context) string { return From(ctx).ID }

// SeamContext bounds ctx by the request's Seam deadline, shared by every Seam call the
// request makes; outside a request (a worker), by fallback from now.
func SeamContext(ctx context.Context, fallback time.Duration) (context.Context, context.CancelFunc) {
	if d := From(ctx).SeamDeadline; !d.IsZero() {
		return context.WithDeadline(ctx, d)
	}
	return context.WithTimeout(ctx, fallback)
}
