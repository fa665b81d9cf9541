package seam

import (
	"context"
	"time"
)

// Event types Latchkey reads.
const (
	EventLockLocked                = "lock.locked"
	EventLockUnlocked              = "lock.unlocked"
	EventConnectedAccountConnected = "connected_account.connected"
)

// defaultEventWindow is how far back Events.List looks when no Since is
// given, because Seam refuses events/list without since or between.
const defaultEventWindow = 30 * 24 * time.Hour

// sinceLayout is ISO 8601 with milliseconds, the precision Seam itself sends.
const sinceLayout = "2006-01-02T15:04:05.000Z07:00"

// Events lists device and account events.
type Events struct{ c *Client }

// Event is something that happened to a device or account.
type Event struct {
	EventID            string `json:"event_id"`
	EventType          string `json:"event_type"`
	DeviceID           string `json:"device_id"`
	ConnectedAccountID string `json:"connected_account_id"`
	ActionAttemptID    string `json:"action_attempt_id"`
	ConnectWebviewID   string `json:"connect_webview_id"`
	// Method says how a lock moved: keycode, manual, automatic, remote, card or unknown.
	Method           string    `json:"method"`
	EventDescription string    `json:"event_description"`
	OccurredAt       time.Time `json:"occurred_at"`
	CreatedAt        time.Time `json:"created_at"`
}

// ListEventsParams filters events/list. Nil slices mean "no filter".
type ListEventsParams struct {
	DeviceIDs  []string
	EventTypes []string
	// Since defaults to 30 days ago.
	Since time.Time
	// Limit caps the number of events; zero uses Seam's default.
	Limit int
}

// List returns events matching p.
func (s *Events) List(ctx context.Context, p ListEventsParams) ([]Event, error) {
	const endpoint = "events/list"
	since := p.Since
	if since.IsZero() {
		since = s.c.now().Add(-defaultEventWindow)
	}
	req := struct {
		DeviceIDs  []string `json:"device_ids,omitzero"`
		EventTypes []string `json:"event_types,omitzero"`
		Since      string   `json:"since"`
		Limit      int      `json:"limit,omitempty"`
	}{p.DeviceIDs, p.EventTypes, since.UTC().Format(sinceLayout), p.Limit}
	var resp struct {
		Events *[]Event `json:"events"`
	}
	if err := s.c.call(ctx, endpoint, req, &resp); err != nil {
		return nil, err
	}
	if resp.Events == nil {
		return nil, missing(endpoint, "events")
	}
	return *resp.Events, nil
}
