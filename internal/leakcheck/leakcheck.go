// Package leakcheck tells tests which goroutines outlived the code under
// test. It wraps go.uber.org/goleak, which compares goroutines by identity:
// a goroutine that leaked cannot hide behind an unrelated one that exited
// meanwhile, as it can when tests compare runtime.NumGoroutine counts, and a
// failure names the leaked goroutines' stacks instead of dumping them all.
package leakcheck

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Settle is how long goroutines that are already on their way out (a
// connection's reader seeing EOF, a timer's callback) get to end: long enough
// for a loaded 2-core CI machine, and only ever waited out when something
// is left.
const Settle = 5 * time.Second

// Snapshot records the goroutines running now, so that Find and Verify
// ignore them: take it before the code under test starts anything.
func Snapshot() goleak.Option { return goleak.IgnoreCurrent() }

// Find waits up to within for every goroutine not excluded by opts (see
// Snapshot, goleak.IgnoreAnyFunction) to end, and describes those that do
// not. It works outside tests too (a test binary's helper mode).
func Find(within time.Duration, opts ...goleak.Option) error {
	deadline := time.Now().Add(within)
	for {
		// goleak.Find itself retries for about half a second.
		err := goleak.Find(opts...)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", within, err)
		}
	}
}

// Verify is Find for a test: it fails t if goroutines are left after Settle.
func Verify(t testing.TB, opts ...goleak.Option) {
	t.Helper()
	if err := Find(Settle, opts...); err != nil {
		t.Error(err)
	}
}

// Check records the goroutines running now and, at t's cleanup (after every
// cleanup registered later, such as closing what the test started),
// verifies that no others are left. Like goleak, it cannot tell one test's
// goroutines from another's: not for tests that run in parallel.
func Check(t testing.TB, opts ...goleak.Option) {
	t.Helper()
	all := append([]goleak.Option{Snapshot()}, opts...)
	t.Cleanup(func() { Verify(t, all...) })
}
