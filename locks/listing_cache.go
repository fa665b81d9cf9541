package locks

import (
	"sync"
	"time"

	"github.com/latchkey/latchkey/store"
)

// listingCache keeps each user's device listing as last read, with the user's listing
// version (store.User.ListingVersion) read before it: the version is raised by the
// database on every change to the user's devices or attempts, whatever process makes
// it, so a listing read at or after a version is still what the database holds while
// the version is the same. The device list page then makes no query for it (the
// listing query was a quarter of the page's profile). It is a per-process cache of
// what the database says, not shared state: an entry is only used at its exact version.
//
// The listing is kept in a form that holds as time passes: each device's latest action
// whatever its age (DeviceList filters by the page's window), and the count of actions
// in the limit's window as of a window start, which holds for later starts until the
// oldest of them leaves it.
type listingCache struct {
	mu      sync.Mutex
	entries map[string]listingEntry // by user id
}

type listingEntry struct {
	version int64
	// countSince is the window start listing's count of recent actions was read for.
	countSince time.Time
	listing    store.DeviceListing
}

// maxListings bounds the cache; past it, an arbitrary entry makes room.
const maxListings = 10_000

// get returns the user's listing cached at version, if it still holds for a count of
// the actions since countSince (as UserDeviceListing reads it). Version 0 (unknown)
// never hits.
func (c *listingCache) get(userID string, version int64, countSince time.Time) (store.DeviceListing, bool) {
	if version == 0 {
		return store.DeviceListing{}, false
	}
	c.mu.Lock()
	e, ok := c.entries[userID]
	c.mu.Unlock()
	if !ok || e.version != version || countSince.Before(e.countSince) {
		return store.DeviceListing{}, false
	}
	// The store compares times at microseconds: the actions counted are those created
	// after the window start so truncated. The set only shrinks as the start moves on,
	// and is unchanged until it reaches the oldest.
	if e.listing.RecentActions > 0 && !e.listing.OldestRecent.After(countSince.Truncate(time.Microsecond)) {
		return store.DeviceListing{}, false
	}
	return e.listing, true
}

// put keeps the user's listing, read (with its latest actions of any age, and the
// count of actions since countSince) after the version was read. An entry of a newer
// version is kept: the caller's version was read before it.
func (c *listingCache) put(userID string, version int64, countSince time.Time, l store.DeviceListing) {
	if version == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[userID]; ok && e.version > version {
		return
	} else if !ok && len(c.entries) >= maxListings {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	if c.entries == nil {
		c.entries = map[string]listingEntry{}
	}
	c.entries[userID] = listingEntry{version: version, countSince: countSince, listing: l}
}
