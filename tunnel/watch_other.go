//go:build !linux

package tunnel

// watchRemoval has no watch to offer off Linux: the tunnel does not notice
// that its UAPI socket file was removed (wireguard-go's own exit on it is
// Linux behaviour too).
func watchRemoval(path string, gone func()) (stop func(), err error) {
	return func() {}, nil
}
