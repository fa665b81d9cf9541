package seam

import (
	"context"
	"time"
)

// Event types Latchkey reads.
const (
	EventLockLocked                   = "lock.locked"
	EventLockUnlocked                 = "lock.unlocked"
	EventDeviceConnected              = "device.connected"
	EventDeviceDisconnected           = "device.disconnected"
	EventDeviceLowBattery             = "device.low_battery"
	EventDeviceBatteryStatusChanged   = "device.battery_status_changed"
	EventDeviceAdded                  = "device.added"
	EventDeviceRemoved                = "device.removed"
	EventDeviceDeleted                = "device.deleted"
	EventConnectedAccountConnected    = "connected_account.connected"
	EventConnectedAccountDisconnected = "connected_account.disconnected"
	EventConnectedAccountDeleted      = "connected_account.deleted"
	EventUnlockDoorSucceeded          = "action_attempt.unlock_door.succeeded"
	EventUnlockDoorFailed             = "action_attempt.unlock_door.failed"
	EventLockDoorSucceeded            = "action_attempt.lock_door.succeeded"
	EventLockDoorFailed               = "action_attempt.lock_door.failed"
)

// Lock event methods: how a lock moved.
const (
	MethodSeamAPI   = "seamapi"
	MethodRemote    = "remote"
	MethodManual    = "manual"
	MethodKeycode   = "keycode"
	MethodAutomatic = "automatic"
	MethodUnknown   = "unknown"
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
	// BatteryLevel (0 to 1) and BatteryStatus come with device.low_battery and
	// device.battery_status_changed.
	BatteryLevel  *float64 `json:"battery_level"`
	BatteryStatus string   `json:"battery_status"`
	// Status and Error come with action_attempt.* events.
	Status string              `json:"status"`
	Error  *ActionAttemptError `json:"error"`
}

// ListEventsParams filters events/list. Nil slices mean "no filter".
type ListEventsParams struct {
	DeviceIDs  []string
	EventTypes []string
	// Since defaults to 30 days ago; Until, when set, asks for events between Since
	// and Until instead (Seam's between).
	Since time.Time
	Until time.Time
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
		Since      string   `json:"since,omitempty"`
		Between    []string `json:"between,omitzero"`
		Limit      int      `json:"limit,omitempty"`
	}{DeviceIDs: p.DeviceIDs, EventTypes: p.EventTypes, Limit: p.Limit}
	if p.Until.IsZero() {
		req.Since = since.UTC().Format(sinceLayout)
	} else {
		req.Between = []string{since.UTC().Format(sinceLayout), p.Until.UTC().Format(sinceLayout)}
	}
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
