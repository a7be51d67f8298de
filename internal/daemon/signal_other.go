//go:build !unix

package daemon

// signalable: the CLI's daemon is a Unix process; elsewhere none runs.
func signalable(pid int) bool { return false }
