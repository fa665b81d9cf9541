package locks

import (
	"fmt"
	"testing"
	"time"

	"github.com/latchkey/latchkey/store"
)

// The cache stays within its bound, never keeps an unknown version, and never lets a
// request that read an older version replace a newer entry.
func TestListingCacheBounds(t *testing.T) {
	var c listingCache
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	one := store.DeviceListing{Refs: []store.DeviceRef{{ID: "d1"}}, Counted: true}
	for i := range maxListings + 50 {
		c.put(fmt.Sprintf("user-%d", i), 1, at, one)
	}
	if len(c.entries) != maxListings {
		t.Errorf("%d entries; want the bound, %d", len(c.entries), maxListings)
	}
	c.put("zero", 0, at, one)
	if _, ok := c.get("zero", 0, at); ok || len(c.entries) != maxListings {
		t.Error("version 0 was cached")
	}
	two := store.DeviceListing{Refs: []store.DeviceRef{{ID: "d2"}}, Counted: true}
	c.put("alice", 5, at, two)
	c.put("alice", 4, at, one)
	if l, ok := c.get("alice", 5, at); !ok || l.Refs[0].ID != "d2" {
		t.Errorf("version 5 after a put at version 4: %+v, %v; want the version 5 listing", l, ok)
	}
	if _, ok := c.get("alice", 4, at); ok {
		t.Error("version 4 hit an entry of version 5")
	}
}
