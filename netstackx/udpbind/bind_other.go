//go:build !linux

package udpbind

import "golang.zx2c4.com/wireguard/conn"

// New returns wireguard-go's default bind: the batching, offloads and sticky
// sources of this package are Linux's.
func New() conn.Bind { return conn.NewDefaultBind() }
