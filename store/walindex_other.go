//go:build !unix

package store

import "errors"

// walIndex is not read on this system: the session memo asks SQLite instead.
type walIndex struct{}

type walIndexVersion [12]uint32

func openWALIndex(string) (*walIndex, error) {
	return nil, errors.New("WAL-index not mapped on this system")
}

func (*walIndex) version() (walIndexVersion, bool) { return walIndexVersion{}, false }

func (*walIndex) close() error { return nil }
