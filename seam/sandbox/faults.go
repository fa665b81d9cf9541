package sandbox

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// Fault makes API requests misbehave, for tests of retries, timeouts and error pages.
type Fault struct {
	// Path limits the fault to one endpoint ("devices/list" or "/devices/list"); "" means any.
	Path string
	// Status, when not zero, is answered instead of the real response, with Seam's
	// error envelope. Zero leaves the response alone (a latency-only fault).
	Status int
	// Type and Message fill the error; empty means derived from Status.
	Type    string
	Message string
	// RetryAfter, when set, is sent as the Retry-After header (e.g. "1").
	RetryAfter string
	// Latency delays the answer; the delay ends early when the request's context does.
	Latency time.Duration
	// Times is how many requests the fault affects; 0 means until ClearFaults.
	Times int
	// LoseAnswer makes the sandbox do what was asked, then drop the connection instead
	// of answering: the caller cannot know that Seam acted.
	LoseAnswer bool
}

type activeFault struct {
	Fault
	remaining int
}

// InjectFault adds a fault. Faults apply to authenticated API requests, in the order
// they were added; the first that matches a request is used (and counted).
func (s *Sandbox) InjectFault(f Fault) {
	if f.Path != "" {
		f.Path = "/" + strings.TrimPrefix(f.Path, "/")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.faults = append(s.st.faults, &activeFault{Fault: f, remaining: f.Times})
}

// ClearFaults removes every injected fault.
func (s *Sandbox) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.faults = nil
}

// FailNextAction makes the next action attempt on a device end with status "error"
// and the given error type and message.
func (s *Sandbox) FailNextAction(deviceID, errorType, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.failNext[deviceID] = actionAttemptError{Type: errorType, Message: message}
}

// takeFault returns the fault that applies to a request on path, counting it.
func (s *Sandbox) takeFault(path string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.st.faults {
		if f.Path != "" && f.Path != path {
			continue
		}
		if f.Times > 0 {
			f.remaining--
			if f.remaining <= 0 {
				s.st.faults = append(s.st.faults[:i:i], s.st.faults[i+1:]...)
			}
		}
		return f.Fault, true
	}
	return Fault{}, false
}

// applyFault waits out an injected latency and returns the injected error, if any.
// gone reports that the request's context ended during the wait; lose, that the answer
// must be dropped once the request is done.
func (s *Sandbox) applyFault(ctx context.Context, path string) (ferr *apiError, gone, lose bool) {
	f, ok := s.takeFault(path)
	if !ok {
		return nil, false, false
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return nil, true, false
		case <-t.C:
		}
	}
	if f.Status == 0 {
		return nil, false, f.LoseAnswer
	}
	typ, msg := f.Type, f.Message
	if typ == "" {
		typ = strings.ReplaceAll(strings.ToLower(http.StatusText(f.Status)), " ", "_")
		if typ == "" {
			typ = "injected_fault"
		}
	}
	if msg == "" {
		msg = http.StatusText(f.Status)
		if msg == "" {
			msg = "Injected fault"
		}
	}
	e := newAPIError(f.Status, typ, msg)
	if f.RetryAfter != "" {
		e.header = http.Header{"Retry-After": {f.RetryAfter}}
	}
	return e, false, false
}
