package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wgu-project/wgu/netstackx/services"

	"github.com/wgu-project/wgu/tunnel/config"
)

// A netstack tunnel's services come from the config's wireproxy-style
// sections ([Socks5], [http], [TCPClientTunnel], [TCPServerTunnel],
// [UDPProxyTunnel]); the CLI's --forward and --expose add sections too.

// Service is one running service of a netstack tunnel, from a service
// section of its config.
type Service struct {
	// Kind is "forward-tcp" ([TCPClientTunnel]), "expose-tcp"
	// ([TCPServerTunnel]), "forward-udp" ([UDPProxyTunnel]), "socks5" or
	// "http".
	Kind string
	// Addr is the address the service listens on, as bound: with
	// BindAddress = 127.0.0.1:0 it holds the port the system chose. For
	// expose-tcp it is the tunnel-side listener.
	Addr net.Addr
	// Target is where connections go ("" for the proxies, which go where
	// their clients ask).
	Target string
	// Description is the line `wgu show` prints for it.
	Description string
}

// runningService is one started service.
type runningService struct {
	svc services.Service
	Service
}

type serviceSet struct {
	list   []runningService
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startServices opens every service's listener (an error there fails Up)
// and serves them until the tunnel closes.
func (t *Tunnel) startServices() error {
	if len(t.cfg.Services) == 0 {
		return nil
	}
	if t.ns == nil {
		return fmt.Errorf("%w: service sections such as [%s] need netstack mode (in TUN mode the host's own sockets reach the tunnel)", config.ErrInvalidConfig, t.cfg.Services[0].Name)
	}
	res := services.NewResolver(t.ns, t.cfg.Interface.DNS)
	tunnelNet := services.Resolving(t.ns, res)
	ctx, cancel := context.WithCancel(context.Background())
	t.svcs = &serviceSet{cancel: cancel}
	for _, sec := range t.cfg.Services {
		rs, err := t.openService(sec, tunnelNet, res)
		if err != nil {
			return fmt.Errorf("[%s] on line %d: %w", sec.Name, sec.Line, err)
		}
		t.svcs.list = append(t.svcs.list, rs)
		t.svcs.wg.Add(1)
		go func() {
			defer t.svcs.wg.Done()
			if err := rs.svc.Serve(ctx); err != nil && !errors.Is(err, net.ErrClosed) && ctx.Err() == nil {
				t.log.Error("service stopped", "service", rs.Description, "err", err)
			}
		}()
		t.log.Info("service listening", "service", rs.Description)
	}
	return nil
}

func (t *Tunnel) openService(sec config.Section, tunnelNet services.Network, res *services.Resolver) (runningService, error) {
	log := t.log
	bind, target := sec.Get("BindAddress"), sec.Get("Target")
	switch config.NormalizeName(sec.Name) {
	case "tcpclienttunnel":
		ln, err := net.Listen("tcp", hostBind(bind))
		if err != nil {
			return runningService{}, err
		}
		f := services.NewTCPForward(ln, tunnelNet, target, log)
		f.SetMaxConnections(maxConnections(sec))
		return runningService{f, Service{"forward-tcp", ln.Addr(), target, fmt.Sprintf("forward tcp %s -> %s (tunnel)", ln.Addr(), target)}}, nil
	case "tcpservertunnel":
		ln, err := t.ns.Listen("tcp", ":"+sec.Get("ListenPort"))
		if err != nil {
			return runningService{}, err
		}
		e := services.NewTCPExpose(ln, target, log)
		e.SetMaxConnections(maxConnections(sec))
		return runningService{e, Service{"expose-tcp", ln.Addr(), target, fmt.Sprintf("expose tcp (tunnel) :%s -> %s", sec.Get("ListenPort"), target)}}, nil
	case "udpproxytunnel":
		pc, err := net.ListenPacket("udp", hostBind(bind))
		if err != nil {
			return runningService{}, err
		}
		idle := time.Duration(0)
		if v := sec.Get("InactivityTimeout"); v != "" {
			n, _ := strconv.Atoi(v) // validated by the parser
			idle = time.Duration(n) * time.Second
		}
		return runningService{services.NewUDPProxy(pc, tunnelNet, target, idle, log),
			Service{"forward-udp", pc.LocalAddr(), target, fmt.Sprintf("forward udp %s -> %s (tunnel)", pc.LocalAddr(), target)}}, nil
	case "socks5":
		ln, err := net.Listen("tcp", hostBind(bind))
		if err != nil {
			return runningService{}, err
		}
		s := services.NewSOCKS5(ln, t.ns, res, sec.Get("Username"), sec.Get("Password"), log)
		s.SetMaxConnections(maxConnections(sec))
		shown := listenName(hostBind(bind), ln.Addr())
		return runningService{s, Service{"socks5", ln.Addr(), "", fmt.Sprintf("socks5 %s%s", shown, t.proxyNote(sec, "socks5", shown, ln.Addr()))}}, nil
	case "http":
		ln, err := net.Listen("tcp", hostBind(bind))
		if err != nil {
			return runningService{}, err
		}
		p := services.NewHTTPProxy(ln, t.ns, res, sec.Get("Username"), sec.Get("Password"), log)
		p.SetMaxConnections(maxConnections(sec))
		shown := listenName(hostBind(bind), ln.Addr())
		return runningService{p, Service{"http", ln.Addr(), "", fmt.Sprintf("http proxy %s%s", shown, t.proxyNote(sec, "http", shown, ln.Addr()))}}, nil
	}
	return runningService{}, fmt.Errorf("unknown service section")
}

// hostBind makes ":PORT" mean loopback: a proxy or forward is published
// beyond this host only when an address (such as 0.0.0.0) says so.
func hostBind(bind string) string {
	if strings.HasPrefix(bind, ":") {
		return "127.0.0.1" + bind
	}
	return bind
}

// maxConnections is the section's MaxConnections, or 0 for the service's default.
func maxConnections(sec config.Section) int {
	n, _ := strconv.Atoi(sec.Get("MaxConnections")) // validated by the parser
	return n
}

// openProxyMark ends the `wgu show` line of a proxy that anyone who can reach it may use.
const openProxyMark = " (OPEN PROXY: no password, not on loopback)"

// proxyNote describes a proxy's access for its `wgu show` line, and warns at start about an open proxy: one
// without credentials on an address other hosts can reach.
func (t *Tunnel) proxyNote(sec config.Section, kind, shown string, addr net.Addr) string {
	if sec.Get("Username") != "" || sec.Get("Password") != "" {
		return " (password required)"
	}
	if !reachableBeyondHost(addr) {
		return ""
	}
	t.log.Warn(fmt.Sprintf("open proxy: anyone who can reach %s can use this tunnel "+
		"(set Username and Password in its [%s] section, or bind it to 127.0.0.1)", shown, sec.Name),
		"service", kind, "listen", shown)
	return openProxyMark
}

// listenName is the listen address as the config wrote it (Go reports a listener on 0.0.0.0 as [::]), with the
// port the listener got when the config asked for any.
func listenName(bind string, addr net.Addr) string {
	host, _, ok := config.SplitHostPort(bind)
	ta, isTCP := addr.(*net.TCPAddr)
	if !ok || !isTCP {
		return addr.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(ta.Port))
}

// reachableBeyondHost reports whether a listener on addr accepts connections from other hosts: any address but
// loopback.
func reachableBeyondHost(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	return !ok || !ta.IP.IsLoopback()
}

// close stops every service and waits for them.
func (s *serviceSet) close() {
	if s == nil {
		return
	}
	s.cancel()
	for _, rs := range s.list {
		rs.svc.Close()
	}
	s.wg.Wait()
}

// Services lists the running services in config order (netstack mode; nil
// in TUN mode or without service sections).
func (t *Tunnel) Services() []Service {
	if t.svcs == nil {
		return nil
	}
	out := make([]Service, 0, len(t.svcs.list))
	for _, rs := range t.svcs.list {
		out = append(out, rs.Service)
	}
	return out
}

// serviceLines describes the running services, one line each.
func (t *Tunnel) serviceLines() []string {
	var lines []string
	for _, s := range t.Services() {
		lines = append(lines, s.Description)
	}
	return lines
}
