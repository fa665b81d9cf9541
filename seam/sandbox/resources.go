package sandbox

import "time"

// The JSON shapes below follow Seam's OpenAPI description (@seamapi/types/connect).
// They are the sandbox's own copies on purpose: the sandbox is a test double for the
// client in package seam and must not share its types, or a wrong field name would
// hide on both sides at once.

// timeLayout is how Seam writes timestamps: UTC with milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z"

func stamp(t time.Time) string { return t.UTC().Format(timeLayout) }

type deviceJSON struct {
	DeviceID                    string           `json:"device_id"`
	DeviceType                  string           `json:"device_type"`
	DisplayName                 string           `json:"display_name"`
	Nickname                    *string          `json:"nickname,omitempty"`
	ConnectedAccountID          string           `json:"connected_account_id"`
	WorkspaceID                 string           `json:"workspace_id"`
	CreatedAt                   string           `json:"created_at"`
	CapabilitiesSupported       []string         `json:"capabilities_supported"`
	CanRemotelyUnlock           bool             `json:"can_remotely_unlock"`
	CanRemotelyLock             bool             `json:"can_remotely_lock"`
	CanProgramOnlineAccessCodes bool             `json:"can_program_online_access_codes"`
	IsManaged                   bool             `json:"is_managed"`
	CustomMetadata              map[string]any   `json:"custom_metadata"`
	SpaceIDs                    []string         `json:"space_ids"`
	Errors                      []deviceError    `json:"errors"`
	Warnings                    []deviceWarning  `json:"warnings"`
	Properties                  deviceProperties `json:"properties"`
}

type deviceProperties struct {
	Name         string         `json:"name"`
	Appearance   appearanceJSON `json:"appearance"`
	Online       bool           `json:"online"`
	Locked       bool           `json:"locked"`
	DoorOpen     bool           `json:"door_open"`
	BatteryLevel float64        `json:"battery_level"`
	Battery      batteryJSON    `json:"battery"`
	Model        modelJSON      `json:"model"`
	Manufacturer string         `json:"manufacturer"`
	ImageURL     string         `json:"image_url"`
	ImageAltText string         `json:"image_alt_text"`
}

type appearanceJSON struct {
	Name string `json:"name"`
}

type batteryJSON struct {
	Level  float64 `json:"level"`
	Status string  `json:"status"`
}

type modelJSON struct {
	DisplayName             string `json:"display_name"`
	ManufacturerDisplayName string `json:"manufacturer_display_name"`
}

// deviceError carries both flags because Seam's schema requires is_device_error on
// device errors and is_connected_account_error on the account-level ones.
type deviceError struct {
	ErrorCode               string `json:"error_code"`
	Message                 string `json:"message"`
	IsDeviceError           bool   `json:"is_device_error"`
	IsConnectedAccountError bool   `json:"is_connected_account_error,omitempty"`
	CreatedAt               string `json:"created_at"`
}

type deviceWarning struct {
	WarningCode string `json:"warning_code"`
	Message     string `json:"message"`
	CreatedAt   string `json:"created_at"`
}

type connectedAccountJSON struct {
	ConnectedAccountID            string             `json:"connected_account_id"`
	AccountType                   string             `json:"account_type"`
	AccountTypeDisplayName        string             `json:"account_type_display_name"`
	DisplayName                   string             `json:"display_name"`
	UserIdentifier                userIdentifierJSON `json:"user_identifier"`
	CreatedAt                     string             `json:"created_at"`
	Errors                        []accountError     `json:"errors"`
	Warnings                      []deviceWarning    `json:"warnings"`
	CustomMetadata                map[string]any     `json:"custom_metadata"`
	AutomaticallyManageNewDevices bool               `json:"automatically_manage_new_devices"`
	AcceptedCapabilities          []string           `json:"accepted_capabilities"`
}

type userIdentifierJSON struct {
	Email string `json:"email"`
}

type accountError struct {
	ErrorCode               string `json:"error_code"`
	Message                 string `json:"message"`
	IsConnectedAccountError bool   `json:"is_connected_account_error"`
	IsBridgeError           bool   `json:"is_bridge_error"`
	CreatedAt               string `json:"created_at"`
}

type connectWebviewJSON struct {
	ConnectWebviewID              string         `json:"connect_webview_id"`
	WorkspaceID                   string         `json:"workspace_id"`
	CreatedAt                     string         `json:"created_at"`
	URL                           string         `json:"url"`
	Status                        string         `json:"status"`
	LoginSuccessful               bool           `json:"login_successful"`
	ConnectedAccountID            *string        `json:"connected_account_id"`
	AuthorizedAt                  *string        `json:"authorized_at"`
	SelectedProvider              *string        `json:"selected_provider"`
	CustomRedirectURL             *string        `json:"custom_redirect_url"`
	CustomRedirectFailureURL      *string        `json:"custom_redirect_failure_url"`
	CustomMetadata                map[string]any `json:"custom_metadata"`
	AcceptedProviders             []string       `json:"accepted_providers"`
	AcceptedCapabilities          []string       `json:"accepted_capabilities"`
	AcceptedDevices               []string       `json:"accepted_devices"`
	AnyDeviceAllowed              bool           `json:"any_device_allowed"`
	AnyProviderAllowed            bool           `json:"any_provider_allowed"`
	DeviceSelectionMode           string         `json:"device_selection_mode"`
	AutomaticallyManageNewDevices bool           `json:"automatically_manage_new_devices"`
	WaitForDeviceCreation         bool           `json:"wait_for_device_creation"`
}

type clientSessionJSON struct {
	ClientSessionID     string   `json:"client_session_id"`
	WorkspaceID         string   `json:"workspace_id"`
	CreatedAt           string   `json:"created_at"`
	ExpiresAt           string   `json:"expires_at"`
	Token               string   `json:"token"`
	UserIdentifierKey   *string  `json:"user_identifier_key"`
	DeviceCount         int      `json:"device_count"`
	ConnectedAccountIDs []string `json:"connected_account_ids"`
	ConnectWebviewIDs   []string `json:"connect_webview_ids"`
	UserIdentityIDs     []string `json:"user_identity_ids"`
}

type actionAttemptJSON struct {
	ActionAttemptID string              `json:"action_attempt_id"`
	ActionType      string              `json:"action_type"`
	Status          string              `json:"status"`
	Result          *struct{}           `json:"result"`
	Error           *actionAttemptError `json:"error"`
}

type actionAttemptError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// eventJSON is one event of Seam's event union (#/components/schemas/event): the
// common fields and, omitted when empty, those of the event types the sandbox
// emits. The pointer fields are required by some types even when empty or zero
// (battery_level 0, connected_account_errors []), so nil means "not this type's".
type eventJSON struct {
	EventID                  string          `json:"event_id"`
	EventType                string          `json:"event_type"`
	WorkspaceID              string          `json:"workspace_id"`
	CreatedAt                string          `json:"created_at"`
	OccurredAt               string          `json:"occurred_at"`
	EventDescription         string          `json:"event_description,omitempty"`
	DeviceID                 string          `json:"device_id,omitempty"`
	DeviceName               *string         `json:"device_name,omitempty"`
	ConnectedAccountID       string          `json:"connected_account_id,omitempty"`
	ConnectedAccountType     string          `json:"connected_account_type,omitempty"`
	ConnectWebviewID         string          `json:"connect_webview_id,omitempty"`
	ActionAttemptID          string          `json:"action_attempt_id,omitempty"`
	ActionType               string          `json:"action_type,omitempty"`
	Status                   string          `json:"status,omitempty"`
	Method                   string          `json:"method,omitempty"`
	ErrorCode                string          `json:"error_code,omitempty"`
	BatteryLevel             *float64        `json:"battery_level,omitempty"`
	BatteryStatus            string          `json:"battery_status,omitempty"`
	ConnectedAccountErrors   *[]eventIssue   `json:"connected_account_errors,omitempty"`
	ConnectedAccountWarnings *[]eventWarning `json:"connected_account_warnings,omitempty"`
	DeviceErrors             *[]eventIssue   `json:"device_errors,omitempty"`
	DeviceWarnings           *[]eventWarning `json:"device_warnings,omitempty"`
}

// eventIssue and eventWarning are the error and warning items of device.disconnected
// and connected_account.disconnected: Seam's schema has exactly these fields.
type eventIssue struct {
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
	CreatedAt string `json:"created_at"`
}

type eventWarning struct {
	WarningCode string `json:"warning_code"`
	Message     string `json:"message"`
	CreatedAt   string `json:"created_at"`
}

// webhookJSON is Seam's webhook object.
type webhookJSON struct {
	WebhookID  string   `json:"webhook_id"`
	URL        string   `json:"url"`
	EventTypes []string `json:"event_types"`
	Secret     string   `json:"secret"`
}

type paginationJSON struct {
	HasNextPage    bool    `json:"has_next_page"`
	NextPageCursor *string `json:"next_page_cursor"`
	NextPageURL    *string `json:"next_page_url"`
}

type errorJSON struct {
	Type             string         `json:"type"`
	Message          string         `json:"message"`
	ValidationErrors map[string]any `json:"validation_errors,omitempty"`
	Data             map[string]any `json:"data,omitempty"`
}
