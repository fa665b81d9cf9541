package web

import "runtime/debug"

// Collector settings of the serving process, unless GOGC or GOMEMLIMIT say otherwise.
const (
	serverGCPercent   = 400
	serverMemoryLimit = 512 << 20
)

// TuneGC sets the garbage collector for a portal process. Its live heap is small (a few
// MB) while every page allocates a page's worth, so with Go's default (GOGC=100) it
// collects every few hundred pages: a sixth of the CPU of BenchmarkDevicesPage50 in its
// profile. GOGC=400 trades some MB of heap for that CPU; a soft memory limit of 512 MiB
// makes the collector work harder before the heap could grow large. Either is left as
// the environment sets it (GOGC, GOMEMLIMIT). Run calls it; so do the benchmarks and the
// load test, so they measure the portal as it runs. restore puts back what was before.
func TuneGC(getenv func(string) string) (restore func()) {
	percent, limit := -2, int64(-1)
	if getenv("GOGC") == "" {
		percent = debug.SetGCPercent(serverGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		limit = debug.SetMemoryLimit(serverMemoryLimit)
	}
	return func() {
		if percent != -2 {
			debug.SetGCPercent(percent)
		}
		if limit >= 0 {
			debug.SetMemoryLimit(limit)
		}
	}
}
