package seam

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// observed is one call of the WithObserver function.
type observed struct {
	endpoint string
	status   int
	failed   bool
	timedOut bool
}

type observations struct {
	mu   sync.Mutex
	seen []observed
}

func (o *observations) observe(endpoint string, status int, err error, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seen = append(o.seen, observed{endpoint, status, err != nil, errors.Is(err, context.DeadlineExceeded)})
}

func TestObserverHearsEveryAttempt(t *testing.T) {
	tests := []struct {
		name    string
		replies []reply
		call    apiCall
		want    []observed
	}{
		{
			name:    "read retried after a 503",
			replies: []reply{{status: 503}, ok("devices/get")},
			call:    readCalls["devices/get"],
			want:    []observed{{"devices/get", 503, true, false}, {"devices/get", 200, false, false}},
		},
		{
			name:    "dropped connection has no status",
			replies: []reply{{drop: true}, ok("devices/list")},
			call:    readCalls["devices/list"],
			want:    []observed{{"devices/list", 0, true, false}, {"devices/list", 200, false, false}},
		},
		{
			name:    "write sent once, timed out",
			replies: []reply{{hang: true}},
			call:    writeCalls["locks/unlock_door"],
			want:    []observed{{"locks/unlock_door", 0, true, true}},
		},
		{
			name:    "429 on a write",
			replies: []reply{{status: 429}},
			call:    writeCalls["locks/lock_door"],
			want:    []observed{{"locks/lock_door", 429, true, false}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c, _ := newScripted(t, tt.replies...)
			c.timeout = 50 * time.Millisecond
			obs := &observations{}
			WithObserver(obs.observe)(c)
			_ = tt.call(t.Context(), c)
			if !slices.Equal(obs.seen, tt.want) {
				t.Errorf("observed %+v, want %+v", obs.seen, tt.want)
			}
		})
	}
}
