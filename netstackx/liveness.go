package netstackx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// How the netstack side of a connection notices a peer that vanished (a tunnel peer restarted with its
// connections gone, a spoke powered off). gVisor's defaults never give up on an idle connection and give up on
// unacknowledged data only after 15 retransmissions, which with the exponential backoff takes many minutes.
const (
	// tcpUserTimeout: data left unacknowledged this long ends the connection (Linux's TCP_USER_TIMEOUT).
	tcpUserTimeout = 60 * time.Second
	// keepaliveIdle, keepaliveInterval, keepaliveCount: an idle connection probes its peer after keepaliveIdle
	// and gives up after keepaliveCount unanswered probes keepaliveInterval apart (about a minute in all).
	keepaliveIdle     = 30 * time.Second
	keepaliveInterval = 10 * time.Second
	keepaliveCount    = 3
)

// setLiveness turns on keepalives and the user timeout on a TCP endpoint. A listener's settings are inherited by
// the connections it accepts.
func setLiveness(ep tcpip.Endpoint) error {
	ut := tcpip.TCPUserTimeoutOption(tcpUserTimeout)
	if err := ep.SetSockOpt(&ut); err != nil {
		return fmt.Errorf("TCP user timeout: %s", err)
	}
	idle := tcpip.KeepaliveIdleOption(keepaliveIdle)
	if err := ep.SetSockOpt(&idle); err != nil {
		return fmt.Errorf("keepalive idle: %s", err)
	}
	interval := tcpip.KeepaliveIntervalOption(keepaliveInterval)
	if err := ep.SetSockOpt(&interval); err != nil {
		return fmt.Errorf("keepalive interval: %s", err)
	}
	if err := ep.SetSockOptInt(tcpip.KeepaliveCountOption, keepaliveCount); err != nil {
		return fmt.Errorf("keepalive count: %s", err)
	}
	ep.SocketOptions().SetKeepAlive(true)
	return nil
}

// dialTCP connects to addr like gonet.DialContextTCP, with setLiveness applied before the handshake.
func (d *Device) dialTCP(ctx context.Context, addr tcpip.FullAddress, proto tcpip.NetworkProtocolNumber) (net.Conn, error) {
	var wq waiter.Queue
	ep, terr := d.stack.NewEndpoint(tcp.ProtocolNumber, proto, &wq)
	if terr != nil {
		return nil, errors.New(terr.String())
	}
	if err := setLiveness(ep); err != nil {
		ep.Close()
		return nil, err
	}
	// Connect finishes asynchronously: wait for the endpoint to become writable (connected) or report an error.
	entry, connected := waiter.NewChannelEntry(waiter.WritableEvents)
	wq.EventRegister(&entry)
	defer wq.EventUnregister(&entry)
	terr = ep.Connect(addr)
	if _, started := terr.(*tcpip.ErrConnectStarted); started {
		select {
		case <-ctx.Done():
			ep.Close()
			return nil, ctx.Err()
		case <-connected:
		}
		terr = ep.LastError()
	}
	if terr != nil {
		ep.Close()
		return nil, &net.OpError{Op: "connect", Net: "tcp",
			Addr: &net.TCPAddr{IP: net.IP(addr.Addr.AsSlice()), Port: int(addr.Port)}, Err: errors.New(terr.String())}
	}
	return &stackConn{TCPConn: gonet.NewTCPConn(&wq, ep), chunk: writeChunk(int(d.mtu.Load()), proto == ipv6.ProtocolNumber)}, nil
}

// listenTCP listens like gonet.ListenTCP, with setLiveness applied to the listener (and so to what it accepts).
func (d *Device) listenTCP(addr tcpip.FullAddress, proto tcpip.NetworkProtocolNumber) (net.Listener, error) {
	var wq waiter.Queue
	ep, terr := d.stack.NewEndpoint(tcp.ProtocolNumber, proto, &wq)
	if terr != nil {
		return nil, errors.New(terr.String())
	}
	fail := func(op string, err error) (net.Listener, error) {
		ep.Close()
		return nil, &net.OpError{Op: op, Net: "tcp",
			Addr: &net.TCPAddr{IP: net.IP(addr.Addr.AsSlice()), Port: int(addr.Port)}, Err: err}
	}
	if err := setLiveness(ep); err != nil {
		return fail("listen", err)
	}
	if terr := ep.Bind(addr); terr != nil {
		return fail("bind", errors.New(terr.String()))
	}
	if terr := ep.Listen(listenBacklog); terr != nil {
		return fail("listen", errors.New(terr.String()))
	}
	return gonet.NewTCPListener(d.stack, &wq, ep), nil
}

// listenBacklog is Linux's usual somaxconn.
const listenBacklog = 4096
