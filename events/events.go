// Package events takes Seam's events in — signed webhooks, or polling events/list where
// Seam cannot reach the portal — keeps each in a durable inbox, and applies each once:
// to the local copy of device state (through package locks) and to the actions they
// finish. Every instance may receive and apply; polling is done by one instance at a
// time, under a database lease.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"github.com/latchkey/latchkey/locks"
	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
)

// Store is what the events need of the database.
type Store interface {
	StoreEvent(ctx context.Context, e store.SeamEvent) (bool, error)
	UnprocessedEvents(ctx context.Context, limit int) ([]store.SeamEvent, error)
	ApplyEvent(ctx context.Context, eventID, deviceID string, now time.Time, apply func(d store.DeviceCopy, ok bool) ([]byte, time.Time, error)) (bool, error)
	DeleteDevices(ctx context.Context, accountID string, deviceIDs ...string) error
	AccountDevices(ctx context.Context, accountID string) ([]store.DeviceCopy, error)
	UpdateDevice(ctx context.Context, deviceID string, change func(store.DeviceCopy) ([]byte, time.Time, error)) error
	AccountOwner(ctx context.Context, accountID string) (string, error)
	TakeLease(ctx context.Context, name, holder string, now, until time.Time) (string, bool, error)
	SetLeaseCursor(ctx context.Context, name, holder, cursor string) error
	ReleaseLease(ctx context.Context, name, holder string, now time.Time) error
}

// EventAPI lists Seam's events.
type EventAPI interface {
	List(ctx context.Context, p seam.ListEventsParams) ([]seam.Event, error)
}

// Locks is what applying events needs of the lock use cases.
type Locks interface {
	SyncUser(ctx context.Context, userID string) ([]seam.Device, error)
	FinishFromEvent(ctx context.Context, e seam.Event) error
}

// Defaults.
const (
	DefaultPollInterval = 5 * time.Second
	// DefaultPollLimit is the most events one events/list call returns (Seam's default).
	DefaultPollLimit = 500
	// pollOverlap is how far before the newest event seen the next poll starts, so an
	// event Seam stored late is not missed; duplicates are dropped by event_id.
	pollOverlap = time.Minute
	// firstPollWindow is how far back the very first poll looks.
	firstPollWindow = time.Hour
	pollLease       = "events-poller"
	applyBatch      = 100
)

// ErrBadSignature is a webhook whose Svix signature is missing, wrong or stale.
var ErrBadSignature = errors.New("events: webhook signature missing, wrong or outside 5 minutes")

// Service receives, polls and applies Seam's events.
type Service struct {
	Store Store
	Seam  EventAPI
	Locks Locks
	Log   *slog.Logger
	// Now is the clock; tests replace it.
	Now func() time.Time
	// WebhookSecret is SEAM_WEBHOOK_SECRET (whsec_…); empty means events are polled.
	WebhookSecret string
	// PollInterval and PollLimit tune the poller; zero takes the defaults.
	PollInterval time.Duration
	PollLimit    int
	// Instance names this process in the poller's lease.
	Instance string
	// Hub tells live pages what changed; nil tells nobody.
	Hub *Hub

	verifierOnce sync.Once
	verifier     *svix.Webhook
	verifierErr  error

	wake chan struct{}
	stop context.CancelFunc
	done chan struct{}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// Receive verifies a webhook delivery's Svix signature (svix-id, svix-timestamp,
// svix-signature; at most 5 minutes old) and stores its event. A delivery seen before
// (same svix-id or event_id) is accepted and not stored again. The event is applied
// right after, in the background.
func (s *Service) Receive(ctx context.Context, payload []byte, header http.Header) error {
	s.verifierOnce.Do(func() { s.verifier, s.verifierErr = svix.NewWebhook(s.WebhookSecret) })
	if s.verifierErr != nil || s.WebhookSecret == "" {
		return fmt.Errorf("%w: no usable webhook secret", ErrBadSignature)
	}
	if err := s.verifier.Verify(payload, header); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	var e seam.Event
	if err := json.Unmarshal(payload, &e); err != nil || e.EventID == "" || e.EventType == "" {
		// Signed by Seam but not an event we can read: accepted, so Svix does not retry
		// it for days; logged for a person to look at.
		s.log().WarnContext(ctx, "webhook without a readable event", "svix_id", header.Get("svix-id"))
		return nil
	}
	stored, err := s.store(ctx, e, payload, header.Get("svix-id"))
	if err != nil {
		return err
	}
	if stored {
		s.Wake()
	}
	return nil
}

func (s *Service) store(ctx context.Context, e seam.Event, payload []byte, deliveryID string) (bool, error) {
	created := e.CreatedAt
	if created.IsZero() {
		created = e.OccurredAt
	}
	return s.Store.StoreEvent(ctx, store.SeamEvent{
		ID: e.EventID, DeliveryID: deliveryID, Type: e.EventType, DeviceID: e.DeviceID,
		ConnectedAccountID: e.ConnectedAccountID, Payload: payload, CreatedAt: created, ReceivedAt: s.now(),
	})
}

// Wake asks the worker to apply stored events now.
func (s *Service) Wake() {
	if s.wake == nil {
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// ApplyPending applies every stored event not applied yet, oldest first, and returns
// how many this call applied. Any instance may run it at any time: each event is
// applied once (the store marks it in the same transaction).
func (s *Service) ApplyPending(ctx context.Context) (int, error) {
	applied := 0
	for {
		batch, err := s.Store.UnprocessedEvents(ctx, applyBatch)
		if err != nil {
			return applied, err
		}
		for _, stored := range batch {
			ok, err := s.apply(ctx, stored)
			if err != nil {
				return applied, fmt.Errorf("apply event %s (%s): %w", stored.ID, stored.Type, err)
			}
			if ok {
				applied++
			}
		}
		if len(batch) < applyBatch {
			return applied, nil
		}
	}
}

// apply applies one stored event: its change to the copy of its device commits with
// the mark that it was applied; what follows (a resync, finishing an action, removing
// devices) is idempotent.
func (s *Service) apply(ctx context.Context, stored store.SeamEvent) (bool, error) {
	var e seam.Event
	if err := json.Unmarshal(stored.Payload, &e); err != nil {
		// Unreadable: marked applied (with no change) so it does not block the inbox.
		s.log().WarnContext(ctx, "stored event unreadable", "event_id", stored.ID, "error", err)
		return s.Store.ApplyEvent(ctx, stored.ID, "", s.now(), func(store.DeviceCopy, bool) ([]byte, time.Time, error) {
			return nil, time.Time{}, nil
		})
	}
	var owner string
	applied, err := s.Store.ApplyEvent(ctx, stored.ID, e.DeviceID, s.now(), func(c store.DeviceCopy, ok bool) ([]byte, time.Time, error) {
		if !ok {
			return nil, time.Time{}, nil
		}
		owner = c.UserID
		// An event names its device; the copy's row decides whose it is. An event
		// whose account differs from the device's copy changes nothing.
		if e.ConnectedAccountID != "" && e.ConnectedAccountID != c.ConnectedAccountID {
			return nil, time.Time{}, nil
		}
		return changeCopy(c, e)
	})
	if err != nil || !applied {
		return applied, err
	}
	err = s.follow(ctx, e)
	if owner != "" {
		s.Hub.DeviceChanged(owner, e.DeviceID)
	}
	return true, err
}

// changeCopy is one event applied to one device's copy: the new JSON and state time,
// or nil when nothing changes.
func changeCopy(c store.DeviceCopy, e seam.Event) ([]byte, time.Time, error) {
	// The state time stays when the device was read from Seam; each kind of state
	// keeps its own time inside the copy.
	b, err := locks.ApplyEvent(c.Device, c.StateAt, e)
	return b, c.StateAt, err
}

// follow does what an applied event asks beyond one device's copy.
func (s *Service) follow(ctx context.Context, e seam.Event) error {
	switch e.EventType {
	case seam.EventConnectedAccountDisconnected, seam.EventConnectedAccountConnected:
		devices, err := s.Store.AccountDevices(ctx, e.ConnectedAccountID)
		if err != nil {
			return err
		}
		if len(devices) == 0 && e.EventType == seam.EventConnectedAccountConnected {
			return s.resyncOwner(ctx, e.ConnectedAccountID)
		}
		for _, d := range devices {
			if err := s.Store.UpdateDevice(ctx, d.ID, func(c store.DeviceCopy) ([]byte, time.Time, error) { return changeCopy(c, e) }); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			s.Hub.DeviceChanged(d.UserID, d.ID)
		}
		return nil
	case seam.EventDeviceAdded:
		// Already in the copy (the connect flow's first sync read it): nothing to ask.
		if devices, err := s.Store.AccountDevices(ctx, e.ConnectedAccountID); err == nil {
			for _, d := range devices {
				if d.ID == e.DeviceID {
					return nil
				}
			}
		}
		return s.resyncOwner(ctx, e.ConnectedAccountID)
	case seam.EventLockLocked, seam.EventLockUnlocked,
		seam.EventUnlockDoorSucceeded, seam.EventUnlockDoorFailed, seam.EventLockDoorSucceeded, seam.EventLockDoorFailed:
		return s.Locks.FinishFromEvent(ctx, e)
	case seam.EventDeviceRemoved, seam.EventDeviceDeleted:
		return s.Store.DeleteDevices(ctx, "", e.DeviceID)
	case seam.EventConnectedAccountDeleted:
		if owner, err := s.Store.AccountOwner(ctx, e.ConnectedAccountID); err == nil {
			defer s.Hub.DeviceChanged(owner, "")
		}
		return s.Store.DeleteDevices(ctx, e.ConnectedAccountID)
	}
	return nil
}

// resyncOwner refreshes the copy of the devices of whoever owns the account; an
// account Latchkey never recorded is nobody's here.
func (s *Service) resyncOwner(ctx context.Context, accountID string) error {
	if accountID == "" {
		return nil
	}
	owner, err := s.Store.AccountOwner(ctx, accountID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := s.Locks.SyncUser(ctx, owner); err != nil {
		// Seam is down: the copy is refreshed by the next page view past its age.
		s.log().WarnContext(ctx, "resync after an event", "connected_account_id", accountID, "error", err)
	}
	return nil
}
