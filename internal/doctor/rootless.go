package doctor

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"

	"github.com/wgu-project/wgu/tunnel/config"
)

// checkRootless looks at what a netstack interface exposes: its run
// directory, where its services listen, and where its proxies resolve names.
func checkRootless(t *Target) []Result {
	var rs []Result
	if t.Running != nil && t.Running.RunDir != "" {
		rs = append(rs, checkRunDir(t.Running.RunDir))
	}
	rs = append(rs, checkServiceBinds(t.Config)...)
	rs = append(rs, checkProxyDNS(t.Config)...)
	return rs
}

func checkRunDir(dir string) Result {
	const id = "rootless.rundir"
	fi, err := os.Lstat(dir)
	if err != nil {
		return fail(id, dir, "run directory unreadable: "+err.Error(), "")
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fail(id, dir, dir+" is not a directory (a symlink?): another user could redirect the sockets", "rm "+dir+" and bring the interface up again")
	case st != nil && int(st.Uid) != os.Geteuid():
		return fail(id, dir, fmt.Sprintf("%s belongs to uid %d, not to you (uid %d): its owner controls your sockets", dir, st.Uid, os.Geteuid()), "use a --run-dir you own")
	case fi.Mode().Perm()&0o077 != 0:
		return fail(id, dir, fmt.Sprintf("%s has mode %04o: other users can reach the sockets", dir, fi.Mode().Perm()), "chmod 700 "+dir)
	}
	return ok(id, dir, "run directory is yours and private (0700)")
}

// service is one of the config's service sections, as doctor reads it.
type service struct {
	kind, bind     string
	line           int
	user, password bool
	proxy          bool
}

func services(cfg *config.Config) []service {
	var out []service
	for _, sec := range cfg.Services {
		s := service{kind: sec.Name, line: sec.Line}
		switch strings.ToLower(sec.Name) {
		case "socks5", "http":
			s.proxy = true
		}
		for _, o := range sec.Options {
			switch strings.ToLower(o.Key) {
			case "bindaddress":
				s.bind = o.Value
			case "username":
				s.user = o.Value != ""
			case "password":
				s.password = o.Value != ""
			}
		}
		out = append(out, s)
	}
	return out
}

func isLoopbackBind(bind string) bool {
	host, _, err := net.SplitHostPort(bind)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// checkServiceBinds: a proxy listening beyond loopback without credentials
// is an open proxy into the tunnel for anyone who reaches this host.
func checkServiceBinds(cfg *config.Config) []Result {
	const id = "rootless.bind"
	var rs []Result
	n := 0
	for _, s := range services(cfg) {
		if s.bind == "" || isLoopbackBind(s.bind) {
			n++
			continue
		}
		subject := fmt.Sprintf("[%s] (line %d)", s.kind, s.line)
		switch {
		case s.proxy && !(s.user && s.password):
			rs = append(rs, fail(id, subject,
				fmt.Sprintf("open proxy: listens on %s with no Username/Password, so anyone who reaches this host uses the tunnel", s.bind),
				"BindAddress = 127.0.0.1:"+portOf(s.bind)+", or set Username and Password"))
		case !s.proxy && strings.EqualFold(s.kind, "TCPClientTunnel"):
			rs = append(rs, warn(id, subject,
				fmt.Sprintf("listens on %s: anyone who reaches this host reaches its Target through the tunnel", s.bind),
				"BindAddress = 127.0.0.1:"+portOf(s.bind)+" unless other hosts should use it"))
		default:
			n++
		}
	}
	if len(rs) == 0 && n > 0 {
		return []Result{ok(id, "", fmt.Sprintf("%d services listen on loopback or ask for credentials", n))}
	}
	return rs
}

func portOf(bind string) string {
	_, p, err := net.SplitHostPort(bind)
	if err != nil {
		return "PORT"
	}
	return p
}

// checkProxyDNS: the proxies resolve names through the config's DNS
// servers inside the tunnel; with none they use the host's resolver.
func checkProxyDNS(cfg *config.Config) []Result {
	const id = "rootless.dns"
	proxies := false
	for _, s := range services(cfg) {
		proxies = proxies || s.proxy
	}
	if !proxies {
		return nil
	}
	dns := cfg.Interface.DNS
	if len(dns) == 0 {
		return []Result{warn(id, "", "no DNS in [Interface]: the proxies resolve names with this host's resolver, outside the tunnel (names only the tunnel knows fail, and lookups leak)",
			"DNS = <a resolver reachable through the tunnel, e.g. the hub's tunnel address>")}
	}
	var rs []Result
	for _, d := range dns {
		in := false
		for _, p := range cfg.Peers {
			in = in || covers(p.AllowedIPs, d)
		}
		if !in {
			rs = append(rs, fail(id, d.String(), fmt.Sprintf("DNS %s is in no peer's AllowedIPs: the proxies' lookups cannot go through the tunnel", d),
				fmt.Sprintf("add %s/%d to the AllowedIPs of the peer that reaches it, or use a DNS inside the tunnel", d, d.BitLen())))
		}
	}
	if len(rs) == 0 {
		return []Result{ok(id, "", "the proxies resolve names through the tunnel")}
	}
	return rs
}
