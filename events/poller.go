package events

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/latchkey/latchkey/seam"
)

// maxWalkBack bounds how many extra pages one poll asks for when pages come back full;
// listTimeout bounds each events/list call.
const (
	maxWalkBack = 50
	listTimeout = 10 * time.Second
)

// Poll runs one round of polling Seam's events/list, if this instance holds the
// poller's lease (one instance at a time; another takes over when it passes). Seam
// requires since or between, returns at most limit events and has no page cursor: the
// poll starts at the newest created_at seen so far (kept with the lease) minus an
// overlap, stores what it gets (duplicates are dropped by event_id), and when a page
// comes back full walks back with between until a page is not full, so nothing is
// missed whichever end of a full page Seam keeps. It returns how many events were new.
func (s *Service) Poll(ctx context.Context) (int, error) {
	now := s.now()
	interval := cmp.Or(s.PollInterval, DefaultPollInterval)
	cursor, ok, err := s.Store.TakeLease(ctx, pollLease, s.Instance, now, now.Add(3*interval+time.Minute))
	if err != nil || !ok {
		return 0, err
	}
	newest := now.Add(-firstPollWindow)
	if cursor != "" {
		if t, err := time.Parse(time.RFC3339Nano, cursor); err == nil {
			newest = t
		}
	}
	limit := cmp.Or(s.PollLimit, DefaultPollLimit)
	stored := 0
	// Windows still to read: [since, until), until zero meaning "up to now". A full page
	// leaves two windows possibly unread — before its oldest event and after its newest
	// — whichever end Seam kept.
	type window struct{ since, until time.Time }
	todo := []window{{since: newest.Add(-pollOverlap)}}
	for pages := 0; len(todo) > 0 && pages < maxWalkBack; pages++ {
		w := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		lctx, cancel := context.WithTimeout(ctx, listTimeout)
		evs, err := s.Seam.List(lctx, seam.ListEventsParams{Since: w.since, Until: w.until, Limit: limit})
		cancel()
		if err != nil {
			return stored, fmt.Errorf("poll events: %w", err)
		}
		var oldest, latest time.Time
		for _, e := range evs {
			payload, err := jsonEvent(e)
			if err != nil {
				return stored, err
			}
			isNew, err := s.store(ctx, e, payload, "")
			if err != nil {
				return stored, err
			}
			if isNew {
				stored++
			}
			if e.CreatedAt.After(newest) {
				newest = e.CreatedAt
			}
			if oldest.IsZero() || e.CreatedAt.Before(oldest) {
				oldest = e.CreatedAt
			}
			if e.CreatedAt.After(latest) {
				latest = e.CreatedAt
			}
		}
		if len(evs) < limit {
			continue
		}
		if oldest.After(w.since) {
			todo = append(todo, window{since: w.since, until: oldest})
		}
		if latest.After(w.since) && (w.until.IsZero() || latest.Before(w.until)) {
			todo = append(todo, window{since: latest, until: w.until})
		}
	}
	if err := s.Store.SetLeaseCursor(ctx, pollLease, s.Instance, newest.UTC().Format(time.RFC3339Nano)); err != nil {
		return stored, err
	}
	if stored > 0 {
		s.Wake()
	}
	return stored, nil
}

// Start runs the worker until ctx ends or Close is called: it applies stored events as
// they arrive (Wake) and at least every poll interval, and polls Seam when no webhook
// secret is set.
func (s *Service) Start(ctx context.Context) {
	ctx, s.stop = context.WithCancel(ctx)
	s.wake = make(chan struct{}, 1)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(cmp.Or(s.PollInterval, DefaultPollInterval))
		defer t.Stop()
		for {
			if s.WebhookSecret == "" {
				if _, err := s.Poll(ctx); err != nil && ctx.Err() == nil {
					s.log().WarnContext(ctx, "poll Seam's events", "error", err)
				}
			}
			if _, err := s.ApplyPending(ctx); err != nil && ctx.Err() == nil {
				s.log().WarnContext(ctx, "apply Seam's events", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			case <-s.wake:
			}
		}
	}()
}

// Close stops the worker and waits for its current round; it gives up the poller's
// lease so another instance takes over at once.
func (s *Service) Close() error {
	if s.stop == nil {
		return nil
	}
	s.stop()
	<-s.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Store.ReleaseLease(ctx, pollLease, s.Instance, s.now())
}

// jsonEvent is a polled event as stored in the inbox.
func jsonEvent(e seam.Event) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.EventID, err)
	}
	return b, nil
}
