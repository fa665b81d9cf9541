package store

import (
	"bytes"
	"testing"
	"time"

	"github.com/alexedwards/scs/sqlite3store"
)

// scs's sqlite3store must work unchanged on our sessions table and pool.
func TestSCSSQLite3StoreRoundTrip(t *testing.T) {
	db := newTestDB(t)
	s := sqlite3store.New(db.SQL())
	t.Cleanup(s.StopCleanup)

	data := []byte("session payload")
	if err := s.Commit("token-1", data, time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := s.Commit("token-expired", data, time.Now().Add(-time.Hour)); err != nil {
		t.Fatalf("Commit expired: %v", err)
	}
	got, found, err := s.Find("token-1")
	if err != nil || !found || !bytes.Equal(got, data) {
		t.Fatalf("Find = %q, %v, %v; want %q, true, nil", got, found, err, data)
	}
	if _, found, err := s.Find("token-expired"); err != nil || found {
		t.Errorf("Find(expired) found = %v, err = %v; want false, nil", found, err)
	}
	all, err := s.All()
	if err != nil || len(all) != 1 {
		t.Errorf("All = %v, %v; want one live session", all, err)
	}
	if err := s.Delete("token-1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, found, err := s.Find("token-1"); err != nil || found {
		t.Errorf("Find after Delete: found = %v, err = %v; want false, nil", found, err)
	}
}
