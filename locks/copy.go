package locks

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/latchkey/latchkey/seam"
	"github.com/latchkey/latchkey/store"
)

// DefaultDeviceStateMaxAge is how old the copy of a user's devices may get before a
// page view triggers a background resync (the safety net behind Seam's events).
const DefaultDeviceStateMaxAge = 15 * time.Minute

// CopyStore is what the local copy of device state needs of the database.
type CopyStore interface {
	SyncDevices(ctx context.Context, userID string, accountIDs []string, devices []store.DeviceCopy, now time.Time) error
	UserDevices(ctx context.Context, userID string) ([]store.DeviceCopy, error)
	UserDeviceRefs(ctx context.Context, userID string) ([]store.DeviceRef, error)
	UserDeviceListing(ctx context.Context, userID string, latestSince, countSince time.Time) (store.DeviceListing, error)
	UserDevicesWithRevisions(ctx context.Context, userID string, ids []string) ([]store.DeviceCopy, []int64, error)
	UserDevice(ctx context.Context, userID, deviceID string) (store.DeviceCopy, error)
	OldestSync(ctx context.Context, userID string) (time.Time, bool, error)
	UpdateDevice(ctx context.Context, deviceID string, change func(store.DeviceCopy) ([]byte, time.Time, error)) error
	DeviceEvents(ctx context.Context, deviceID string, types []string, limit int) ([]store.SeamEvent, error)
	TakeLease(ctx context.Context, name, holder string, now, until time.Time) (string, bool, error)
	ReleaseLease(ctx context.Context, name, holder string, now time.Time) error
}

// instanceID names this process in leases.
var instanceID = rand.Text()

// SyncUser reads the user's devices from Seam (their user_identifier_key AND the
// ownership record, as Devices does) and replaces their copy with it.
func (s *Service) SyncUser(ctx context.Context, userID string) ([]seam.Device, error) {
	// The copy is as of when the read began: an event that happens while Seam answers
	// is newer than it, and must still apply when it comes.
	now := s.now()
	devices, accounts, err := s.listOwned(ctx, userID)
	if err != nil {
		return nil, err
	}
	copies := make([]store.DeviceCopy, 0, len(devices))
	for _, d := range devices {
		b, err := json.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("copy device %s: %w", d.DeviceID, err)
		}
		copies = append(copies, store.DeviceCopy{ID: d.DeviceID, UserID: userID, ConnectedAccountID: d.ConnectedAccountID,
			Device: b, StateAt: now})
	}
	if err := s.Copy.SyncDevices(context.WithoutCancel(ctx), userID, accounts, copies, now); err != nil {
		return nil, fmt.Errorf("sync devices of %s: %w", userID, err)
	}
	s.changed(userID, "")
	return devices, nil
}

// Devices lists the user's devices from the local copy; pages never wait for Seam. A
// user whose copy is empty (nothing synced yet) is synced first; a copy older than
// DeviceStateMaxAge triggers one background resync (single flight across instances).
func (s *Service) Devices(ctx context.Context, userID string) ([]seam.Device, error) {
	if s.Copy == nil {
		devices, _, err := s.listOwned(ctx, userID)
		return devices, err
	}
	refs, err := s.Copy.UserDeviceRefs(ctx, userID)
	if err != nil {
		return nil, err
	}
	return s.copiedDevices(ctx, userID, refs)
}

// DeviceList is the user's device list: their devices (as Devices gives them), their
// newest action on each device created at or after since (by device id), and what is
// left of their action limit — from one query when the copy holds devices.
type DeviceList struct {
	Devices   []seam.Device
	Latest    map[string]store.ActionAttempt
	Allowance Allowance
}

// DeviceList reads the user's device list (see the type). With the copy, the listing
// read for user.ListingVersion is reused while the version is the same (listingCache):
// pass the user as this request loaded them with its session, never one kept longer,
// whose version would keep serving what was read at it.
func (s *Service) DeviceList(ctx context.Context, user store.User, since time.Time) (DeviceList, error) {
	userID := user.ID
	var l DeviceList
	var err error
	if s.Copy == nil {
		if l.Devices, _, err = s.listOwned(ctx, userID); err != nil {
			return l, err
		}
		return s.completeList(ctx, userID, since, l)
	}
	now := s.now()
	countSince := now.Add(-limitWindow)
	listing, ok := s.listings.get(userID, user.ListingVersion, countSince)
	if !ok {
		// The latest actions are read whatever their age and filtered below, so that a
		// cached listing holds as time passes.
		listing, err = s.Copy.UserDeviceListing(ctx, userID, time.Time{}, countSince)
		if err != nil {
			return l, err
		}
		if !listing.Counted {
			// Nothing copied yet: Devices syncs, and the rest is read on its own.
			if l.Devices, err = s.copiedDevices(ctx, userID, nil); err != nil || len(l.Devices) == 0 {
				return l, err
			}
			return s.completeList(ctx, userID, since, l)
		}
		s.listings.put(userID, user.ListingVersion, countSince, listing)
	}
	// As the store compares times: at microseconds.
	since = since.Truncate(time.Microsecond)
	for _, r := range listing.Refs {
		if r.Latest != nil && !r.Latest.CreatedAt.Before(since) {
			if l.Latest == nil {
				l.Latest = make(map[string]store.ActionAttempt, len(listing.Refs))
			}
			l.Latest[r.ID] = *r.Latest
		}
	}
	l.Allowance = s.allowance(now, listing.RecentActions, listing.OldestRecent)
	l.Devices, err = s.copiedDevices(ctx, userID, listing.Refs)
	return l, err
}

// completeList adds the latest actions and the allowance to a list read without them.
func (s *Service) completeList(ctx context.Context, userID string, since time.Time, l DeviceList) (DeviceList, error) {
	var err error
	if l.Latest, err = s.latestActions(ctx, userID, since); err != nil {
		return l, err
	}
	l.Allowance, err = s.ActionAllowance(ctx, userID)
	return l, err
}

// latestActions reads the user's newest action on each device since a time, from
// their recent actions.
func (s *Service) latestActions(ctx context.Context, userID string, since time.Time) (map[string]store.ActionAttempt, error) {
	recent, err := s.Store.LatestActionAttempts(ctx, userID, "", 100)
	if err != nil {
		return nil, err
	}
	var latest map[string]store.ActionAttempt
	for _, a := range recent { // newest first
		if a.CreatedAt.Before(since) {
			break
		}
		if latest == nil {
			latest = map[string]store.ActionAttempt{}
		}
		if _, seen := latest[a.DeviceID]; !seen {
			latest[a.DeviceID] = a
		}
	}
	return latest, nil
}

// copiedDevices returns the devices refs name from the copy (decoded once per
// revision); no refs means nothing copied yet, and a user with accounts is synced.
func (s *Service) copiedDevices(ctx context.Context, userID string, refs []store.DeviceRef) ([]seam.Device, error) {
	if len(refs) == 0 {
		accounts, err := s.Store.ConnectedAccountsForUser(ctx, userID)
		if err != nil {
			return nil, fmt.Errorf("owned accounts: %w", err)
		}
		if len(accounts) == 0 {
			return nil, nil
		}
		return s.SyncUser(ctx, userID)
	}
	oldest := refs[0].SyncedAt
	for _, r := range refs[1:] {
		if r.SyncedAt.Before(oldest) {
			oldest = r.SyncedAt
		}
	}
	if s.now().Sub(oldest) > s.maxAge() {
		s.resyncInBackground(ctx, userID)
	}
	return s.decoded.devices(ctx, s.Copy, userID, refs)
}

// CopiedDevice returns the user's device from the local copy, for pages: one the copy
// does not hold for them is ErrNotOwned, audited. Actions still ask Seam (Device).
func (s *Service) CopiedDevice(ctx context.Context, user store.User, deviceID string) (seam.Device, error) {
	if s.Copy == nil {
		return s.Device(ctx, user, deviceID)
	}
	d, err := s.CopiedDeviceQuietly(ctx, user, deviceID)
	if errors.Is(err, ErrNotOwned) && ValidDeviceID(deviceID) {
		s.countRefusal("not_owned")
		s.refused(ctx, user, store.AuditEvent{Action: store.AuditAccessDenied, DeviceID: deviceID,
			Outcome: store.OutcomeDenied, Detail: "device not among the user's devices"})
	}
	return d, err
}

// CopiedDeviceQuietly is CopiedDevice without auditing a miss: for live updates,
// where a device that left the copy is simply taken off the page.
func (s *Service) CopiedDeviceQuietly(ctx context.Context, user store.User, deviceID string) (seam.Device, error) {
	if s.Copy == nil || !ValidDeviceID(deviceID) {
		return seam.Device{}, ErrNotOwned
	}
	c, err := s.Copy.UserDevice(ctx, user.ID, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return seam.Device{}, ErrNotOwned
	}
	if err != nil {
		return seam.Device{}, err
	}
	var d seam.Device
	if err := json.Unmarshal(c.Device, &d); err != nil {
		return seam.Device{}, fmt.Errorf("device %s in the copy: %w", deviceID, err)
	}
	return d, nil
}

func (s *Service) maxAge() time.Duration {
	if s.DeviceStateMaxAge > 0 {
		return s.DeviceStateMaxAge
	}
	return DefaultDeviceStateMaxAge
}

// resyncInBackground refreshes the user's copy from Seam once, on whichever instance
// takes the user's resync lease first.
func (s *Service) resyncInBackground(ctx context.Context, userID string) {
	now := s.now()
	lease := "resync:" + userID
	if _, ok, err := s.Copy.TakeLease(ctx, lease, instanceID, now, now.Add(time.Minute)); err != nil || !ok {
		return
	}
	s.sends.Add(1)
	go func() {
		defer s.sends.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if _, err := s.SyncUser(ctx, userID); err != nil {
			s.log().WarnContext(ctx, "resync devices", "user_id", userID, "error", err)
		}
		if err := s.Copy.ReleaseLease(ctx, lease, instanceID, s.now()); err != nil {
			s.log().WarnContext(ctx, "release resync lease", "user_id", userID, "error", err)
		}
	}()
}

// decodedDevices keeps the devices last decoded from the copy with the revision they
// had: decoding 50 devices on every page view was a quarter of its CPU profile, and
// reading their JSON a fifth. A page reads only the devices' revisions, and the JSON of
// those that changed since. An entry is used only while the copy holds the same
// revision (raised by every change, on any instance), so it is never stale: a
// per-process cache of a pure function, not shared state.
type decodedDevices struct {
	mu      sync.Mutex
	entries map[string]decodedDevice
}

type decodedDevice struct {
	revision int64
	device   seam.Device
}

// maxDecoded bounds the cache; past it, it starts over.
const maxDecoded = 100_000

func (c *decodedDevices) devices(ctx context.Context, copies CopyStore, userID string, refs []store.DeviceRef) ([]seam.Device, error) {
	c.mu.Lock()
	if c.entries == nil || len(c.entries) > maxDecoded {
		c.entries = map[string]decodedDevice{}
	}
	var missing []string
	for _, r := range refs {
		if e, ok := c.entries[r.ID]; !ok || e.revision != r.Revision {
			missing = append(missing, r.ID)
		}
	}
	c.mu.Unlock()
	if len(missing) > 0 {
		fresh, revs, err := copies.UserDevicesWithRevisions(ctx, userID, missing)
		if err != nil {
			return nil, err
		}
		decoded := make([]decodedDevice, len(fresh))
		for i, cp := range fresh {
			if err := json.Unmarshal(cp.Device, &decoded[i].device); err != nil {
				return nil, fmt.Errorf("device %s in the copy: %w", cp.ID, err)
			}
			decoded[i].revision = revs[i]
		}
		c.mu.Lock()
		for i, cp := range fresh {
			c.entries[cp.ID] = decoded[i]
		}
		c.mu.Unlock()
	}
	out := make([]seam.Device, 0, len(refs))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range refs {
		if e, ok := c.entries[r.ID]; ok {
			out = append(out, e.device)
		}
	}
	return out, nil
}

// recordLockState writes a finished action's result into the copy: after an unlock
// succeeded, the page says Unlocked.
func (s *Service) recordLockState(ctx context.Context, a store.ActionAttempt, at time.Time) {
	if s.Copy == nil {
		return
	}
	locked := a.Action == store.ActionLock
	err := s.Copy.UpdateDevice(context.WithoutCancel(ctx), a.DeviceID, func(c store.DeviceCopy) ([]byte, time.Time, error) {
		b, err := setLocked(c.Device, c.StateAt, locked, at)
		return b, c.StateAt, err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log().WarnContext(ctx, "record lock state in the copy", "device_id", a.DeviceID, "error", err)
	}
}

// copiedDevice is a device as the copy keeps it: Seam's object, plus when each kind of
// state it shows was last set by an event or an action (so that events arriving out of
// order — webhooks are delivered concurrently — never turn one kind back, whatever
// the others did meanwhile).
type copiedDevice struct {
	seam.Device
	FieldsAt map[string]time.Time `json:"latchkey_fields_at,omitempty"`
}

// The kinds of state events set.
const (
	fieldLocked  = "locked"
	fieldOnline  = "online"
	fieldBattery = "battery"
	fieldAccount = "account"
)

// eventField is the kind of state an event sets, or "" for events that set none here.
func eventField(eventType string) string {
	switch eventType {
	case seam.EventLockLocked, seam.EventLockUnlocked:
		return fieldLocked
	case seam.EventDeviceConnected, seam.EventDeviceDisconnected:
		return fieldOnline
	case seam.EventDeviceLowBattery, seam.EventDeviceBatteryStatusChanged:
		return fieldBattery
	case seam.EventConnectedAccountDisconnected, seam.EventConnectedAccountConnected:
		return fieldAccount
	}
	return ""
}

// ApplyEvent is what one of Seam's events does to the copy of its device (its JSON as
// stored; syncedAt is when it was read from Seam): the new JSON, or nil when nothing
// changes. An event older than the last read from Seam, or than the last change of the
// same kind, changes nothing, so late or repeated deliveries cannot turn the clock back.
func ApplyEvent(raw []byte, syncedAt time.Time, e seam.Event) ([]byte, error) {
	field := eventField(e.EventType)
	if field == "" {
		return nil, nil
	}
	at := e.OccurredAt
	if at.IsZero() {
		at = e.CreatedAt
	}
	var c copiedDevice
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	if at.Before(syncedAt) || at.Before(c.FieldsAt[field]) {
		return nil, nil
	}
	p := &c.Properties
	switch e.EventType {
	case seam.EventLockLocked, seam.EventLockUnlocked:
		locked := e.EventType == seam.EventLockLocked
		p.Locked = &locked
	case seam.EventDeviceConnected:
		p.Online = true
		c.Errors = slices.DeleteFunc(c.Errors, func(x seam.DeviceError) bool { return x.ErrorCode == "device_offline" })
	case seam.EventDeviceDisconnected:
		p.Online = false
	case seam.EventDeviceLowBattery, seam.EventDeviceBatteryStatusChanged:
		if e.BatteryLevel == nil {
			return nil, nil
		}
		level := *e.BatteryLevel
		status := e.BatteryStatus
		if status == "" {
			status = "low"
		}
		p.BatteryLevel = &level
		p.Battery = &seam.Battery{Level: level, Status: status}
	case seam.EventConnectedAccountDisconnected:
		if !slices.ContainsFunc(c.Errors, func(x seam.DeviceError) bool { return x.ErrorCode == "account_disconnected" }) {
			c.Errors = append(c.Errors, seam.DeviceError{ErrorCode: "account_disconnected", IsConnectedAccountError: true,
				Message: "The account is disconnected."})
		}
	case seam.EventConnectedAccountConnected:
		c.Errors = slices.DeleteFunc(c.Errors, func(x seam.DeviceError) bool { return x.ErrorCode == "account_disconnected" })
	}
	if c.FieldsAt == nil {
		c.FieldsAt = map[string]time.Time{}
	}
	c.FieldsAt[field] = at
	return json.Marshal(c)
}

// setLocked is a finished action's result written into a device's copy, unless an
// event of the lock said something newer.
func setLocked(raw []byte, syncedAt time.Time, locked bool, at time.Time) ([]byte, error) {
	typ := seam.EventLockUnlocked
	if locked {
		typ = seam.EventLockLocked
	}
	return ApplyEvent(raw, syncedAt, seam.Event{EventType: typ, OccurredAt: at})
}

// FinishFromEvent finishes the action one of Seam's events reports on: an
// action_attempt.* event ends its pending action at once (the follower is the safety
// net); a lock.locked/unlocked done through the API ("seamapi") settles an action
// whose answer was lost (unknown) — by its Seam id when Latchkey knows it, else the
// device's latest unknown action of that kind — worded "the lock reported …".
func (s *Service) FinishFromEvent(ctx context.Context, e seam.Event) error {
	system := store.User{}
	switch e.EventType {
	case seam.EventUnlockDoorSucceeded, seam.EventLockDoorSucceeded, seam.EventUnlockDoorFailed, seam.EventLockDoorFailed:
		a, err := s.Store.ActionBySeamID(ctx, e.ActionAttemptID)
		if errors.Is(err, store.ErrNotFound) || e.ActionAttemptID == "" {
			return nil
		}
		if err != nil {
			return err
		}
		from := []string{store.AttemptRequested, store.AttemptPending}
		if e.EventType == seam.EventUnlockDoorSucceeded || e.EventType == seam.EventLockDoorSucceeded {
			s.settle(ctx, system, a, from, store.AttemptSuccess, "", "")
			return nil
		}
		if e.Error != nil && e.Error.Message != "" {
			s.settle(ctx, system, a, from, store.AttemptError, e.Error.Message, "")
			return nil
		}
		// Seam's failed events carry no reason: the attempt itself does.
		if a.Status == store.AttemptPending {
			s.refresh(ctx, a)
		}
		return nil
	case seam.EventLockLocked, seam.EventLockUnlocked:
		// Seam's own schema names an API-caused move "remote" (with its
		// action_attempt_id); "seamapi" is accepted too.
		if e.Method != seam.MethodSeamAPI && e.Method != seam.MethodRemote {
			return nil
		}
		action, words := store.ActionUnlock, "The lock reported it unlocked."
		if e.EventType == seam.EventLockLocked {
			action, words = store.ActionLock, "The lock reported it locked."
		}
		var a store.ActionAttempt
		var err error
		if e.ActionAttemptID != "" {
			a, err = s.Store.ActionBySeamID(ctx, e.ActionAttemptID)
		}
		if e.ActionAttemptID == "" || errors.Is(err, store.ErrNotFound) {
			at := e.OccurredAt
			if at.IsZero() {
				at = e.CreatedAt
			}
			a, err = s.Store.LatestUnknownAction(ctx, e.DeviceID, action, at)
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if a.Action != action || a.DeviceID != e.DeviceID {
			return nil
		}
		s.settle(ctx, system, a, []string{store.AttemptRequested, store.AttemptPending, store.AttemptUnknown},
			store.AttemptSuccess, words, "")
	}
	return nil
}

// LockHistory returns the lock events Seam sent about a device the caller already
// showed to be the user's, newest first, from the event inbox: the device page's
// history without asking Seam. Without a copy it asks Seam (LockEvents).
func (s *Service) LockHistory(ctx context.Context, user store.User, deviceID string, limit int) ([]seam.Event, error) {
	if s.Copy == nil {
		return s.LockEvents(ctx, user, deviceID, limit)
	}
	stored, err := s.Copy.DeviceEvents(ctx, deviceID, []string{seam.EventLockLocked, seam.EventLockUnlocked}, limit)
	if err != nil {
		return nil, err
	}
	out := make([]seam.Event, 0, len(stored))
	for _, se := range stored {
		var e seam.Event
		if err := json.Unmarshal(se.Payload, &e); err != nil {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}
