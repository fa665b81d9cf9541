package events

import (
	"context"
	"log/slog"
	"strings"
	"sync"
)

// AllDevices in a change means every device of the user (a resync).
const AllDevices = "*"

// Hub fans changes out to the live pages (Server-Sent Events streams) of the users
// they concern. A change carries ids only; each stream reads what changed from the
// database. Across instances, changes travel through the database (PostgreSQL
// LISTEN/NOTIFY, see Relay); with SQLite (one process) they are delivered in process.
type Hub struct {
	// Relay, when set, carries changes to every instance (this one included); nil
	// delivers in process only.
	Relay Relay
	Log   *slog.Logger

	mu     sync.Mutex
	subs   map[string]map[*Subscription]struct{}
	closed bool
}

// Relay carries a change to every instance's hub (PostgreSQL NOTIFY).
type Relay interface {
	Notify(ctx context.Context, payload string) error
}

// Subscription is one live page's stream of changes.
type Subscription struct {
	UserID string
	// Signal has a value when there is something to read with Take.
	Signal chan struct{}

	hub     *Hub
	mu      sync.Mutex
	devices map[string]bool
	ended   map[string]bool
	closed  bool
}

// NewHub returns an empty hub.
func NewHub(relay Relay, log *slog.Logger) *Hub {
	return &Hub{Relay: relay, Log: log, subs: map[string]map[*Subscription]struct{}{}}
}

// Subscribe starts a stream of the user's changes; Close ends it. A closed hub
// returns a subscription that is already closed.
func (h *Hub) Subscribe(userID string) *Subscription {
	s := &Subscription{UserID: userID, Signal: make(chan struct{}, 1), hub: h, devices: map[string]bool{}, ended: map[string]bool{}}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.closed = true
		s.Signal <- struct{}{}
		return s
	}
	if h.subs[userID] == nil {
		h.subs[userID] = map[*Subscription]struct{}{}
	}
	h.subs[userID][s] = struct{}{}
	return s
}

// Count is how many streams the user has open on this instance.
func (h *Hub) Count(userID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[userID])
}

// Close ends the stream.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	delete(s.hub.subs[s.UserID], s)
	if len(s.hub.subs[s.UserID]) == 0 {
		delete(s.hub.subs, s.UserID)
	}
	s.hub.mu.Unlock()
}

// Take returns what changed since the last Take: device ids (AllDevices for all), the
// sessions that ended, and whether the hub closed (shutdown).
func (s *Subscription) Take() (devices []string, ended map[string]bool, closed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for d := range s.devices {
		devices = append(devices, d)
	}
	ended = s.ended
	s.devices, s.ended = map[string]bool{}, map[string]bool{}
	return devices, ended, s.closed
}

func (s *Subscription) add(deviceID, endedSession string, closed bool) {
	s.mu.Lock()
	switch {
	case closed:
		s.closed = true
	case endedSession != "":
		s.ended[endedSession] = true
	case deviceID != "":
		s.devices[deviceID] = true
	}
	s.mu.Unlock()
	select {
	case s.Signal <- struct{}{}:
	default:
	}
}

// DeviceChanged tells the user's live pages that a device (AllDevices: every device)
// changed.
func (h *Hub) DeviceChanged(userID, deviceID string) {
	if deviceID == "" {
		deviceID = AllDevices
	}
	h.publish("d|" + userID + "|" + deviceID)
}

// SessionEnded tells the user's live pages that a session ended (sign-out): the
// streams of that session close.
func (h *Hub) SessionEnded(userID, sessionKey string) {
	h.publish("s|" + userID + "|" + sessionKey)
}

func (h *Hub) publish(payload string) {
	if h == nil {
		return
	}
	if h.Relay == nil {
		h.Deliver(payload)
		return
	}
	if err := h.Relay.Notify(context.Background(), payload); err != nil {
		// The database is down: this instance's pages still hear of it.
		if h.Log != nil {
			h.Log.Warn("relay a change to other instances", "error", err)
		}
		h.Deliver(payload)
	}
}

// Deliver hands a change (as relayed) to this instance's subscribers.
func (h *Hub) Deliver(payload string) {
	kind, rest, _ := strings.Cut(payload, "|")
	userID, id, _ := strings.Cut(rest, "|")
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[userID] {
		switch kind {
		case "d":
			s.add(id, "", false)
		case "s":
			s.add("", id, false)
		}
	}
}

// ResyncAll tells every subscriber that everything may have changed: after the relay
// reconnected, changes may have been missed.
func (h *Hub) ResyncAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, subs := range h.subs {
		for s := range subs {
			s.add(AllDevices, "", false)
		}
	}
}

// Close ends every stream (shutdown); later subscriptions start closed.
func (h *Hub) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, subs := range h.subs {
		for s := range subs {
			s.add("", "", true)
		}
	}
	return nil
}
