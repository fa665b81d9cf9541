//go:build unix

package store

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// walIndex reads the header of a SQLite database's WAL-index, the "-shm" file every
// connection to a WAL-mode database maps, where a commit becomes visible: the writer
// publishes the new header (its frame count, checksums and change counter, all of which
// a commit changes) in two copies, the second first, and readers take it only when both
// agree (https://sqlite.org/walformat.html, "The WAL-Index Header"). Reading it costs
// no lock and no system call, where asking SQLite (PRAGMA data_version) costs a read
// transaction with its file locks — a third of a page view's CPU under load.
type walIndex struct {
	path string
	mem  []byte
	// dev and ino name the file mapped: SQLite removes the -shm file when the last
	// connection closes, and a later one creates another, which this mapping would
	// never see change.
	dev, ino uint64
}

// walIndexHeaderWords is the size of one copy of the header, in 32-bit words.
const walIndexHeaderWords = 12

// walIndexVersion is one copy of the header, compared whole.
type walIndexVersion [walIndexHeaderWords]uint32

// openWALIndex maps the WAL-index of the database file at dbPath read-only. A
// connection to the database must already have read from it (the file then exists and
// is initialised).
func openWALIndex(dbPath string) (*walIndex, error) {
	path := dbPath + "-shm"
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return nil, err
	}
	const size = 2 * walIndexHeaderWords * 4
	if st.Size < size {
		return nil, fmt.Errorf("%s: %d bytes, not a WAL-index", path, st.Size)
	}
	mem, err := syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", path, err)
	}
	return &walIndex{path: path, mem: mem, dev: uint64(st.Dev), ino: uint64(st.Ino)}, nil
}

// version returns the header as published now, or false when it cannot be trusted: a
// writer is between the two copies, the index is not initialised, or the file mapped is
// no longer the database's.
func (w *walIndex) version() (walIndexVersion, bool) {
	var a, b walIndexVersion
	// Atomic loads, in order: the first copy, then the second (the writer stores them
	// the other way round), as SQLite's own readers do with a memory barrier between.
	base := unsafe.Pointer(unsafe.SliceData(w.mem))
	for i := range a {
		a[i] = atomic.LoadUint32((*uint32)(unsafe.Add(base, 4*i)))
	}
	for i := range b {
		b[i] = atomic.LoadUint32((*uint32)(unsafe.Add(base, 4*(walIndexHeaderWords+i))))
	}
	// Word 3 holds isInit (and the checksum order and page size): zero means the
	// index was never written.
	if a != b || a[3] == 0 {
		return walIndexVersion{}, false
	}
	var st syscall.Stat_t
	if err := syscall.Stat(w.path, &st); err != nil || uint64(st.Dev) != w.dev || uint64(st.Ino) != w.ino {
		return walIndexVersion{}, false
	}
	return a, true
}

func (w *walIndex) close() error { return syscall.Munmap(w.mem) }
