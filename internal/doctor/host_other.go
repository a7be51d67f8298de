//go:build !linux

package doctor

// checkHost has nothing to read outside Linux: wgu configures a TUN's host
// side only there.
func checkHost(*Target, *environment) []Result { return nil }
