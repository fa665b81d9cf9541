package locks

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/latchkey/latchkey/internal/request"
	"github.com/latchkey/latchkey/store"
)

// Budget is at most Limit uses in each fixed Window.
type Budget struct {
	Limit  int
	Window time.Duration
}

// String is the budget as configured, e.g. "20/10s".
func (b Budget) String() string { return fmt.Sprintf("%d/%s", b.Limit, b.Window) }

// Default budgets.
var (
	// DefaultSeamBudget is the Seam calls one customer's requests may make: enough for
	// a device page and its polls, far from the workspace's limit.
	DefaultSeamBudget = Budget{Limit: 20, Window: 10 * time.Second}
	// DefaultWebviewBudget is the Connect Webviews one customer may create.
	DefaultWebviewBudget = Budget{Limit: 5, Window: 10 * time.Minute}
)

// DefaultRefusalAuditWindow is how often repeated refusals of one kind are audited
// for one user.
const DefaultRefusalAuditWindow = time.Minute

// GuardStore is what the Guard keeps in the database, so every instance shares it.
type GuardStore interface {
	Spend(ctx context.Context, userID, kind string, now time.Time, window time.Duration, limit int) (bool, time.Time, error)
	AppendAuditOnce(ctx context.Context, e store.AuditEvent, since time.Time) (bool, error)
}

// ErrBudgetSpent says the user spent a budget; nothing was asked of Seam.
type ErrBudgetSpent struct {
	// Kind is store.BudgetSeamCalls or store.BudgetWebviews.
	Kind       string
	Budget     Budget
	RetryAfter time.Duration
}

func (e *ErrBudgetSpent) Error() string {
	return fmt.Sprintf("locks: %s budget of %s spent; retry after %s", e.Kind, e.Budget, e.RetryAfter)
}

// Guard holds the rules every customer request shares, whichever domain package
// serves it: the per-user Seam budget (Seam rate-limits the whole workspace, so one
// customer must not spend it for all), the Connect Webview budget, and the audit of
// refusals, each kind at most once per user per window so the trail cannot be flooded.
// A nil *Guard spends nothing.
type Guard struct {
	Store GuardStore
	Log   *slog.Logger
	// Now is the clock; tests replace it.
	Now func() time.Time
	// SeamCalls and Webviews are the per-user budgets; zero values take the defaults.
	SeamCalls Budget
	Webviews  Budget
	// RefusalAuditWindow is how often one user's repeated refusals of one kind are
	// audited; zero takes the default.
	RefusalAuditWindow time.Duration
	// Metrics counts spent budgets; nil counts nothing.
	Metrics Metrics
}

func (g *Guard) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// SpendSeamCall takes one Seam call from the budget of whoever the request is for: the
// signed-in user when the context names one (an admin looking at a customer pays for
// it), else userID. A spent budget is *ErrBudgetSpent, audited.
func (g *Guard) SpendSeamCall(ctx context.Context, userID string) error {
	if g == nil {
		return nil
	}
	return g.spend(ctx, payer(ctx, userID), store.BudgetSeamCalls, orBudget(g.SeamCalls, DefaultSeamBudget))
}

// SpendWebview takes one Connect Webview from the user's budget.
func (g *Guard) SpendWebview(ctx context.Context, userID string) error {
	if g == nil {
		return nil
	}
	return g.spend(ctx, userID, store.BudgetWebviews, orBudget(g.Webviews, DefaultWebviewBudget))
}

func (g *Guard) spend(ctx context.Context, userID, kind string, b Budget) error {
	now := g.now()
	ok, reset, err := g.Store.Spend(ctx, userID, kind, now, b.Window, b.Limit)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	if g.Metrics != nil {
		g.Metrics.Refused("budget")
	}
	g.Refused(ctx, store.AuditEvent{ActorID: userID, SubjectUserID: userID, Action: store.AuditBudgetSpent,
		Outcome: store.OutcomeDenied, Detail: fmt.Sprintf("%s budget of %s spent", kind, b)})
	return &ErrBudgetSpent{Kind: kind, Budget: b, RetryAfter: max(reset.Sub(now), time.Second)}
}

// Refused audits a refusal, unless the same actor's refusal of the same kind was
// audited within the window. The client's address and user agent come from the
// context. A failed write is logged: the refusal stands either way.
func (g *Guard) Refused(ctx context.Context, e store.AuditEvent) {
	info := request.From(ctx)
	e.RemoteAddr, e.UserAgent = info.RemoteAddr, info.UserAgent
	now := g.now()
	if e.At.IsZero() {
		e.At = now
	}
	window := g.RefusalAuditWindow
	if window <= 0 {
		window = DefaultRefusalAuditWindow
	}
	if _, err := g.Store.AppendAuditOnce(ctx, e, now.Add(-window)); err != nil && g.Log != nil {
		g.Log.ErrorContext(ctx, "audit write failed", "action", e.Action, "error", err)
	}
}

// payer is the signed-in user the request is for, or userID outside a request.
func payer(ctx context.Context, userID string) string {
	if id := request.From(ctx).UserID(); id != "" {
		return id
	}
	return userID
}

func orBudget(b, def Budget) Budget {
	if b.Limit <= 0 || b.Window <= 0 {
		return def
	}
	return b
}
