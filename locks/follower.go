package locks

import (
	"context"
	"sync"
	"time"

	"github.com/latchkey/latchkey/store"
)

// FollowerOptions tune a Follower; zero values take the defaults.
type FollowerOptions struct {
	// Interval between claims (Seam suggests polling an action about once a second).
	Interval time.Duration
	// Lease is how long a claim keeps other workers off an action while it is checked.
	Lease time.Duration
	// Batch is the most actions claimed at once; they are checked concurrently.
	Batch int
}

// Follower takes open actions to their end, on whichever instance runs it: it claims
// them through the database with a lease, asks Seam about pending ones, settles those
// Seam finished, those pending past the bound (timeout), and those still 'requested'
// after their sender's lease passed (unknown: the sender died or lost Seam's answer).
type Follower struct {
	svc  *Service
	opts FollowerOptions

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// NewFollower returns a follower of svc's actions; Start runs it.
func NewFollower(svc *Service, opts FollowerOptions) *Follower {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Lease <= 0 {
		opts.Lease = 30 * time.Second
	}
	if opts.Batch <= 0 {
		opts.Batch = 16
	}
	return &Follower{svc: svc, opts: opts}
}

// Start runs the follower until ctx ends or Close is called.
func (f *Follower) Start(ctx context.Context) {
	ctx, f.cancel = context.WithCancel(ctx)
	f.done = make(chan struct{})
	go func() {
		defer close(f.done)
		t := time.NewTicker(f.opts.Interval)
		defer t.Stop()
		for {
			if _, err := f.Step(ctx); err != nil && ctx.Err() == nil {
				f.svc.log().WarnContext(ctx, "follow actions", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Close stops the follower and waits for its current step. Actions it held are taken
// by any follower once their lease passes.
func (f *Follower) Close() error {
	f.once.Do(func() {
		if f.cancel != nil {
			f.cancel()
			<-f.done
		}
	})
	return nil
}

// Step claims the open actions whose lease is free and checks each once, returning how
// many it claimed. Tests call it directly instead of waiting for the ticker.
func (f *Follower) Step(ctx context.Context) (int, error) {
	now := f.svc.now()
	claimed, err := f.svc.Store.ClaimOpenActions(ctx, now, now.Add(f.opts.Lease), f.opts.Batch)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, a := range claimed {
		wg.Go(func() { f.follow(ctx, a) })
	}
	wg.Wait()
	return len(claimed), nil
}

// follow checks one claimed action. An action that stays open is released for the
// next claim (by any instance) right away.
func (f *Follower) follow(ctx context.Context, a store.ActionAttempt) {
	s := f.svc
	ctx, cancel := context.WithTimeout(ctx, f.opts.Lease)
	defer cancel()
	system := store.User{}
	switch {
	case a.Status == store.AttemptRequested:
		// Claimable only after the sender's lease: the sender is gone, or its record of
		// Seam's answer was lost. Nobody knows whether Seam acted.
		s.settle(ctx, system, a, []string{store.AttemptRequested}, store.AttemptUnknown, reasonUnknown, "")
		return
	case a.SeamID == "":
		s.settle(ctx, system, a, []string{store.AttemptPending}, store.AttemptUnknown, reasonUnknown, "")
		return
	}
	a = s.refresh(ctx, a)
	if a.Status != store.AttemptPending {
		return
	}
	if !s.now().Before(a.CreatedAt.Add(s.pendingBound())) {
		s.settle(ctx, system, a, []string{store.AttemptPending}, store.AttemptTimeout, reasonNoAnswer, "")
		return
	}
	if err := s.Store.ReleaseAction(context.WithoutCancel(ctx), a.ID, s.now()); err != nil {
		s.log().WarnContext(ctx, "release action", "action_attempt_id", a.ID, "error", err)
	}
}
