package handlers

import (
	"context"
	"time"

	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
)

// Seam is the part of the Seam API the handlers use, one small interface per resource;
// package web fills it from a *seam.Client.
type Seam struct {
	Devices        DeviceAPI
	Locks          LockAPI
	ActionAttempts ActionAttemptAPI
	Events         EventAPI
}

// DeviceAPI lists devices.
type DeviceAPI interface {
	List(ctx context.Context, p seam.ListDevicesParams) ([]seam.Device, error)
}

// LockAPI locks and unlocks doors.
type LockAPI interface {
	UnlockDoor(ctx context.Context, deviceID string) (*seam.ActionAttempt, error)
	LockDoor(ctx context.Context, deviceID string) (*seam.ActionAttempt, error)
}

// ActionAttemptAPI reads action attempts.
type ActionAttemptAPI interface {
	Get(ctx context.Context, actionAttemptID string) (*seam.ActionAttempt, error)
}

// EventAPI lists Seam's events.
type EventAPI interface {
	List(ctx context.Context, p seam.ListEventsParams) ([]seam.Event, error)
}

// Store is Latchkey's own records the handlers read and write: users, ownership,
// action attempts, audit.
type Store interface {
	UserStore
	AuditLog
	UserByID(ctx context.Context, id string) (store.User, error)
	ListUsers(ctx context.Context) ([]store.UserSummary, error)

	ConnectedAccountsForUser(ctx context.Context, userID string) ([]store.ConnectedAccount, error)
	UserOwnsConnectedAccount(ctx context.Context, userID, accountID string) (bool, error)
	SetDeviceCounts(ctx context.Context, userID string, counts map[string]int, now time.Time) error

	CreateActionAttempt(ctx context.Context, a store.ActionAttempt) error
	ActionAttemptForUser(ctx context.Context, userID, attemptID string) (store.ActionAttempt, error)
	PendingActionAttempt(ctx context.Context, userID, deviceID string, since time.Time) (store.ActionAttempt, error)
	PendingActionAttempts(ctx context.Context) ([]store.ActionAttempt, error)
	FinishActionAttempt(ctx context.Context, id, status, errMsg string, at time.Time) (bool, error)
	CountActionAttemptsSince(ctx context.Context, userID string, since time.Time) (int, error)
	LatestActionAttempts(ctx context.Context, userID, deviceID string, limit int) ([]store.ActionAttempt, error)

	ListAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditEvent, int64, error)
}
