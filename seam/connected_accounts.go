package seam

import (
	"context"
	"time"
)

// ConnectedAccounts reads the provider accounts users connected through webviews.
type ConnectedAccounts struct{ c *Client }

// ConnectedAccount is a user's account at a lock provider, e.g. August.
type ConnectedAccount struct {
	ConnectedAccountID     string `json:"connected_account_id"`
	AccountType            string `json:"account_type"`
	AccountTypeDisplayName string `json:"account_type_display_name"`
	DisplayName            string `json:"display_name"`
	// UserIdentifier is deprecated by Seam in favour of DisplayName but still sent.
	UserIdentifier *AccountUserIdentifier `json:"user_identifier"`
	// Errors such as account_disconnected mean the user must reconnect.
	Errors         []DeviceError   `json:"errors"`
	Warnings       []DeviceWarning `json:"warnings"`
	CustomMetadata map[string]any  `json:"custom_metadata"`
	CreatedAt      time.Time       `json:"created_at"`
}

// AccountUserIdentifier is how the provider identifies the account holder.
type AccountUserIdentifier struct {
	Username  string `json:"username"`
	Email     string `json:"email"`
	Phone     string `json:"phone"`
	APIURL    string `json:"api_url"`
	Exclusive bool   `json:"exclusive"`
}

// ListConnectedAccountsParams filters connected_accounts/list.
type ListConnectedAccountsParams struct {
	UserIdentifierKey string `json:"user_identifier_key,omitempty"`
}

// Get returns one connected account.
func (s *ConnectedAccounts) Get(ctx context.Context, connectedAccountID string) (*ConnectedAccount, error) {
	const endpoint = "connected_accounts/get"
	if connectedAccountID == "" {
		return nil, errMissingID(endpoint, "connected_account_id")
	}
	var resp struct {
		ConnectedAccount *ConnectedAccount `json:"connected_account"`
	}
	if err := s.c.call(ctx, endpoint, map[string]string{"connected_account_id": connectedAccountID}, &resp); err != nil {
		return nil, err
	}
	if resp.ConnectedAccount == nil {
		return nil, missing(endpoint, "connected_account")
	}
	return resp.ConnectedAccount, nil
}

// List returns every connected account matching p, following pagination to the end.
func (s *ConnectedAccounts) List(ctx context.Context, p ListConnectedAccountsParams) ([]ConnectedAccount, error) {
	const endpoint = "connected_accounts/list"
	return listAll(s.c, endpoint, func(cursor string) ([]ConnectedAccount, pagination, error) {
		req := struct {
			ListConnectedAccountsParams
			PageCursor string `json:"page_cursor,omitempty"`
		}{p, cursor}
		var resp struct {
			ConnectedAccounts *[]ConnectedAccount `json:"connected_accounts"`
			Pagination        pagination          `json:"pagination"`
		}
		if err := s.c.call(ctx, endpoint, req, &resp); err != nil {
			return nil, pagination{}, err
		}
		if resp.ConnectedAccounts == nil {
			return nil, pagination{}, missing(endpoint, "connected_accounts")
		}
		return *resp.ConnectedAccounts, resp.Pagination, nil
	})
}

// Delete deletes a connected account at Seam, with its devices. It is sent once,
// never retried.
func (s *ConnectedAccounts) Delete(ctx context.Context, connectedAccountID string) error {
	const endpoint = "connected_accounts/delete"
	if connectedAccountID == "" {
		return errMissingID(endpoint, "connected_account_id")
	}
	return s.c.call(ctx, endpoint, map[string]string{"connected_account_id": connectedAccountID}, nil)
}
