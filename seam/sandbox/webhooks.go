package sandbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"
)

// DefaultWebhookRetryDelays are the waits before the 2nd, 3rd, … delivery attempt
// of a webhook message when Options.WebhookRetryDelays is nil: a short version of
// Svix's schedule (5 s, 5 min, 30 min, …).
var DefaultWebhookRetryDelays = []time.Duration{200 * time.Millisecond, time.Second, 5 * time.Second, 25 * time.Second}

// DefaultWebhookTimeout bounds one delivery attempt when Options.WebhookTimeout is zero.
const DefaultWebhookTimeout = 5 * time.Second

// webhookWorkers is the size of the delivery pool.
const webhookWorkers = 4

// maxDeliveryLog bounds the delivery log that Deliveries returns.
const maxDeliveryLog = 10000

// Delivery is one attempt to deliver a webhook message.
type Delivery struct {
	WebhookID string
	URL       string
	// MessageID is the svix-id header: one per event, the same on every attempt
	// and for every webhook that receives the event.
	MessageID string
	EventID   string
	EventType string
	// Attempt counts from 1.
	Attempt int
	// Status is the HTTP status answered; 0 when there was no answer (Err says why).
	Status int
	Err    string
	// GaveUp is set on a failed attempt after which no other is made.
	GaveUp bool
	At     time.Time
}

// OK reports whether the attempt was answered with a 2xx status.
func (d Delivery) OK() bool { return d.Status >= 200 && d.Status < 300 }

// job is one message on its way to one webhook.
type job struct {
	webhookID, url, secret string
	msgID, eventID, evType string
	body                   []byte
	attempt                int
}

// background owns what the sandbox does outside requests: webhook deliveries (a
// pool of workers started with the first message) and, on the real clock, the
// timers that settle action attempts on time. Close stops both.
type background struct {
	client  *http.Client
	delays  []time.Duration
	timeout time.Duration
	log     *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	wake   chan struct{}

	mu         sync.Mutex
	closed     bool
	started    bool
	queue      []*job
	timers     map[*time.Timer]struct{}
	deliveries []Delivery
	deleted    map[string]bool // webhooks deleted: their queued jobs are dropped
}

func newBackground(opts Options, log *slog.Logger) *background {
	delays := opts.WebhookRetryDelays
	if delays == nil {
		delays = DefaultWebhookRetryDelays
	}
	timeout := opts.WebhookTimeout
	if timeout <= 0 {
		timeout = DefaultWebhookTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &background{
		client: &http.Client{
			Timeout: timeout,
			// Like Svix, a redirect is an answer (non-2xx), not something to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		delays:  slices.Clone(delays),
		timeout: timeout,
		log:     log,
		ctx:     ctx,
		cancel:  cancel,
		wake:    make(chan struct{}, 1),
		timers:  map[*time.Timer]struct{}{},
		deleted: map[string]bool{},
	}
}

// forget drops the jobs, queued and future retries, of a deleted webhook.
func (b *background) forget(webhookID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deleted[webhookID] = true
}

// afterFunc runs f after d unless the sandbox is closed first.
func (b *background) afterFunc(d time.Duration, f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		b.mu.Lock()
		_, live := b.timers[t]
		delete(b.timers, t)
		closed := b.closed
		b.mu.Unlock()
		if live && !closed {
			f()
		}
	})
	b.timers[t] = struct{}{}
}

// enqueue hands a job to the pool without blocking.
func (b *background) enqueue(j *job) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.queue = append(b.queue, j)
	if !b.started {
		b.started = true
		for range webhookWorkers {
			b.wg.Add(1)
			go b.work()
		}
	}
	b.mu.Unlock()
	b.signal()
}

func (b *background) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// next waits for a job; nil means the sandbox is closing.
func (b *background) next() *job {
	for {
		b.mu.Lock()
		if len(b.queue) > 0 {
			j := b.queue[0]
			b.queue[0] = nil
			b.queue = b.queue[1:]
			more, gone := len(b.queue) > 0, b.deleted[j.webhookID]
			b.mu.Unlock()
			if more {
				b.signal() // let another worker take the rest
			}
			if gone {
				continue
			}
			return j
		}
		b.mu.Unlock()
		select {
		case <-b.ctx.Done():
			return nil
		case <-b.wake:
		}
	}
}

func (b *background) work() {
	defer b.wg.Done()
	for {
		j := b.next()
		if j == nil {
			return
		}
		status, err := b.send(j)
		d := Delivery{
			WebhookID: j.webhookID, URL: j.url, MessageID: j.msgID, EventID: j.eventID, EventType: j.evType,
			Attempt: j.attempt, Status: status, At: time.Now(),
		}
		if err != nil {
			d.Err = err.Error()
		}
		retry := !d.OK() && j.attempt <= len(b.delays)
		d.GaveUp = !d.OK() && !retry
		b.record(d)
		if b.ctx.Err() != nil {
			return
		}
		switch {
		case retry:
			delay := b.delays[j.attempt-1]
			j.attempt++
			b.afterFunc(delay, func() { b.enqueue(j) })
		case d.GaveUp:
			b.log.Warn("sandbox: webhook delivery given up", "webhook_id", j.webhookID, "svix_id", j.msgID,
				"event_type", j.evType, "attempts", j.attempt, "status", status, "err", d.Err)
		}
	}
}

func (b *background) record(d Delivery) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.deliveries) >= maxDeliveryLog {
		b.deliveries = slices.Delete(b.deliveries, 0, len(b.deliveries)-maxDeliveryLog+1)
	}
	b.deliveries = append(b.deliveries, d)
}

// send makes one attempt: POST the event with Svix's headers, signed anew with the
// current time.
func (b *background) send(j *job) (int, error) {
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.url, bytes.NewReader(j.body))
	if err != nil {
		return 0, err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Latchkey-Seam-Sandbox-Webhooks/1")
	h.Set("svix-id", j.msgID)
	h.Set("svix-timestamp", ts)
	h.Set("svix-signature", svixSignature(j.secret, j.msgID, ts, j.body))
	resp, err := b.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// svixSignature is Svix's "v1,<base64 HMAC-SHA256(id.timestamp.body)>", keyed with
// the base64-decoded part of the secret after "whsec_".
func svixSignature(secret, msgID, ts string, body []byte) string {
	key, _ := base64.StdEncoding.DecodeString(secret[len(webhookSecretPrefix):])
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msgID + "." + ts + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func (b *background) close() {
	b.mu.Lock()
	b.closed = true
	for t := range b.timers {
		t.Stop()
	}
	clear(b.timers)
	b.queue = nil
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
}

const webhookSecretPrefix = "whsec_"

func randomID(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// deliverEvent queues the event for every webhook that wants its type, as one Svix
// message (one svix-id). Callers hold s.mu.
func (s *Sandbox) deliverEvent(e eventJSON) {
	var body []byte
	msgID := ""
	for _, wh := range s.st.webhooks {
		if !slices.Contains(wh.EventTypes, "*") && !slices.Contains(wh.EventTypes, e.EventType) {
			continue
		}
		if body == nil {
			body = marshal(e)
			msgID = randomID("msg_", 16)
		}
		s.bg.enqueue(&job{
			webhookID: wh.WebhookID, url: wh.URL, secret: wh.Secret,
			msgID: msgID, eventID: e.EventID, evType: e.EventType, body: body, attempt: 1,
		})
	}
}

// Deliveries returns every webhook delivery attempt made so far (the latest 10,000),
// in the order they ended.
func (s *Sandbox) Deliveries() []Delivery {
	s.bg.mu.Lock()
	defer s.bg.mu.Unlock()
	return slices.Clone(s.bg.deliveries)
}

// Close stops webhook deliveries (in flight ones are cancelled, retries dropped) and
// the timers that settle action attempts. The sandbox still answers requests. It is
// safe to call more than once.
func (s *Sandbox) Close() error {
	s.bg.close()
	return nil
}

// settleNow settles due attempts; the real-clock timers call it.
func (s *Sandbox) settleNow() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settle(s.now())
}

// --- webhooks API ----------------------------------------------------------------

func (s *Sandbox) findWebhook(id string) (int, *apiError) {
	i := slices.IndexFunc(s.st.webhooks, func(w *webhookJSON) bool { return w.WebhookID == id })
	if i < 0 {
		return -1, notFound("webhook_not_found", "Webhook not found")
	}
	return i, nil
}

// checkEventTypes accepts ["*"] or Seam's event types, as Seam's fake does.
func checkEventTypes(types []string) *apiError {
	if len(types) == 1 && types[0] == "*" {
		return nil
	}
	for _, t := range types {
		if !slices.Contains(seamEventTypes, t) {
			return newAPIError(http.StatusBadRequest, "invalid_event_types", "Invalid event types: "+t)
		}
	}
	return nil
}

func (s *Sandbox) webhookCreate(req *request) (reply, *apiError) {
	u, err := url.Parse(req.p.str("url"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, invalidInput([]issue{{path: []string{"url"}, msg: "Invalid url"}})
	}
	types := []string{"*"}
	if req.p.has("event_types") {
		types = req.p.strs("event_types")
	}
	if err := checkEventTypes(types); err != nil {
		return nil, err
	}
	key := make([]byte, 24) // Svix's secrets: 24 random bytes, base64
	_, _ = rand.Read(key)
	wh := &webhookJSON{
		WebhookID:  randomID("ep_", 12),
		URL:        u.String(),
		EventTypes: types,
		Secret:     webhookSecretPrefix + base64.StdEncoding.EncodeToString(key),
	}
	s.st.webhooks = append(s.st.webhooks, wh)
	return reply{"webhook": *wh}, nil
}

func (s *Sandbox) webhookGet(req *request) (reply, *apiError) {
	i, err := s.findWebhook(req.p.str("webhook_id"))
	if err != nil {
		return nil, err
	}
	return reply{"webhook": *s.st.webhooks[i]}, nil
}

func (s *Sandbox) webhookList(*request) (reply, *apiError) {
	out := make([]webhookJSON, len(s.st.webhooks))
	for i, wh := range s.st.webhooks {
		out[i] = *wh
	}
	return reply{"webhooks": out}, nil
}

func (s *Sandbox) webhookUpdate(req *request) (reply, *apiError) {
	i, err := s.findWebhook(req.p.str("webhook_id"))
	if err != nil {
		return nil, err
	}
	types := req.p.strs("event_types")
	if err := checkEventTypes(types); err != nil {
		return nil, err
	}
	// Replace rather than mutate: queued jobs carry their own copies.
	wh := *s.st.webhooks[i]
	wh.EventTypes = types
	s.st.webhooks[i] = &wh
	return reply{}, nil
}

func (s *Sandbox) webhookDelete(req *request) (reply, *apiError) {
	i, err := s.findWebhook(req.p.str("webhook_id"))
	if err != nil {
		return nil, err
	}
	s.bg.forget(s.st.webhooks[i].WebhookID)
	s.st.webhooks = slices.Delete(s.st.webhooks, i, i+1)
	return reply{}, nil
}
