package seam

import "context"

// Webhooks registers the URLs Seam delivers events to, signed the Svix way.
type Webhooks struct{ c *Client }

// Webhook is a registered endpoint; Secret (whsec_…) verifies its deliveries.
type Webhook struct {
	WebhookID  string   `json:"webhook_id"`
	URL        string   `json:"url"`
	EventTypes []string `json:"event_types"`
	Secret     string   `json:"secret"`
}

// Create registers url for the event types (all when none are given).
func (s *Webhooks) Create(ctx context.Context, url string, eventTypes ...string) (*Webhook, error) {
	const endpoint = "webhooks/create"
	if url == "" {
		return nil, errMissingID(endpoint, "url")
	}
	req := struct {
		URL        string   `json:"url"`
		EventTypes []string `json:"event_types,omitempty"`
	}{url, eventTypes}
	var resp struct {
		Webhook *Webhook `json:"webhook"`
	}
	if err := s.c.call(ctx, endpoint, req, &resp); err != nil {
		return nil, err
	}
	if resp.Webhook == nil {
		return nil, missing(endpoint, "webhook")
	}
	return resp.Webhook, nil
}
