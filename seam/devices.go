package seam

import (
	"context"
	"time"
)

// Devices lists, reads and renames devices.
type Devices struct{ c *Client }

// Device is a lock, thermostat, sensor or other device Seam knows about.
type Device struct {
	DeviceID           string `json:"device_id"`
	DisplayName        string `json:"display_name"`
	Nickname           string `json:"nickname"`
	DeviceType         string `json:"device_type"`
	ConnectedAccountID string `json:"connected_account_id"`
	// CapabilitiesSupported lists capabilities such as "lock" and "access_code".
	CapabilitiesSupported []string         `json:"capabilities_supported"`
	CanRemotelyUnlock     bool             `json:"can_remotely_unlock"`
	CanRemotelyLock       bool             `json:"can_remotely_lock"`
	CreatedAt             time.Time        `json:"created_at"`
	Properties            DeviceProperties `json:"properties"`
	// Errors include account-level ones such as account_disconnected (the user must reconnect).
	Errors   []DeviceError   `json:"errors"`
	Warnings []DeviceWarning `json:"warnings"`
}

// DeviceProperties is the state Seam reports for a device; pointers are nil
// when the device type does not report that property.
type DeviceProperties struct {
	// Name is deprecated by Seam in favour of Device.DisplayName.
	Name     string `json:"name"`
	Online   bool   `json:"online"`
	Locked   *bool  `json:"locked"`
	DoorOpen *bool  `json:"door_open"`
	// BatteryLevel is between 0 and 1.
	BatteryLevel *float64    `json:"battery_level"`
	Battery      *Battery    `json:"battery"`
	Model        DeviceModel `json:"model"`
	ImageURL     string      `json:"image_url"`
	Manufacturer string      `json:"manufacturer"`
}

// Battery is the battery charge of a device.
type Battery struct {
	// Level is between 0 and 1.
	Level float64 `json:"level"`
	// Status is one of critical, low, good, full.
	Status string `json:"status"`
}

// DeviceModel names the hardware model.
type DeviceModel struct {
	DisplayName             string `json:"display_name"`
	ManufacturerDisplayName string `json:"manufacturer_display_name"`
}

// DeviceError is an error on a device or on its connected account.
type DeviceError struct {
	ErrorCode               string `json:"error_code"`
	Message                 string `json:"message"`
	IsConnectedAccountError bool   `json:"is_connected_account_error"`
	IsDeviceError           bool   `json:"is_device_error"`
}

// DeviceWarning is a non-fatal condition on a device or account.
type DeviceWarning struct {
	WarningCode string `json:"warning_code"`
	Message     string `json:"message"`
}

// ListDevicesParams filters devices/list. A nil DeviceIDs means "no filter";
// a non-nil empty one is sent as [] and matches no device.
type ListDevicesParams struct {
	UserIdentifierKey  string   `json:"user_identifier_key,omitempty"`
	DeviceIDs          []string `json:"device_ids,omitzero"`
	ConnectedAccountID string   `json:"connected_account_id,omitempty"`
	// Limit is the page size; zero uses Seam's default.
	Limit int `json:"limit,omitempty"`
}

// List returns every device matching p, following pagination to the end.
func (s *Devices) List(ctx context.Context, p ListDevicesParams) ([]Device, error) {
	const endpoint = "devices/list"
	return listAll(s.c, endpoint, func(cursor string) ([]Device, pagination, error) {
		req := struct {
			ListDevicesParams
			PageCursor string `json:"page_cursor,omitempty"`
		}{p, cursor}
		var resp struct {
			Devices    *[]Device  `json:"devices"`
			Pagination pagination `json:"pagination"`
		}
		if err := s.c.call(ctx, endpoint, req, &resp); err != nil {
			return nil, pagination{}, err
		}
		if resp.Devices == nil {
			return nil, pagination{}, missing(endpoint, "devices")
		}
		return *resp.Devices, resp.Pagination, nil
	})
}

// Get returns one device.
func (s *Devices) Get(ctx context.Context, deviceID string) (*Device, error) {
	const endpoint = "devices/get"
	if deviceID == "" {
		return nil, errMissingID(endpoint, "device_id")
	}
	var resp struct {
		Device *Device `json:"device"`
	}
	if err := s.c.call(ctx, endpoint, map[string]string{"device_id": deviceID}, &resp); err != nil {
		return nil, err
	}
	if resp.Device == nil {
		return nil, missing(endpoint, "device")
	}
	return resp.Device, nil
}

// UpdateDeviceParams renames a device.
type UpdateDeviceParams struct {
	DeviceID string `json:"device_id"`
	Name     string `json:"name"`
}

// Update renames a device. It is sent once, never retried.
func (s *Devices) Update(ctx context.Context, p UpdateDeviceParams) error {
	const endpoint = "devices/update"
	if p.DeviceID == "" {
		return errMissingID(endpoint, "device_id")
	}
	return s.c.call(ctx, endpoint, p, nil)
}
