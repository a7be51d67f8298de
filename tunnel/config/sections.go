package config

import (
	"fmt"
	"strings"
)

// ForwardSection is the [TCPClientTunnel] that --forward LISTEN=TARGET
// stands for: LISTEN on the host, TARGET inside the tunnel.
func ForwardSection(spec string) (Section, error) {
	listen, target, ok := strings.Cut(spec, "=")
	if !ok || listen == "" || target == "" {
		return Section{}, fmt.Errorf("--forward %q: expected LISTEN=TARGET, e.g. 127.0.0.1:8096=10.0.0.2:8096", spec)
	}
	if !strings.Contains(listen, ":") {
		listen = "127.0.0.1:" + listen
	}
	s := Section{Name: "TCPClientTunnel", Options: []Option{{Key: "BindAddress", Value: listen}, {Key: "Target", Value: target}}}
	return s, checkSection(s, "--forward")
}

// ExposeSection is the [TCPServerTunnel] that --expose PORT=TARGET stands
// for: PORT on the tunnel address, TARGET on the host.
func ExposeSection(spec string) (Section, error) {
	port, target, ok := strings.Cut(spec, "=")
	if !ok || port == "" || target == "" {
		return Section{}, fmt.Errorf("--expose %q: expected PORT=TARGET, e.g. 8096=127.0.0.1:8096", spec)
	}
	s := Section{Name: "TCPServerTunnel", Options: []Option{{Key: "ListenPort", Value: port}, {Key: "Target", Value: target}}}
	return s, checkSection(s, "--expose")
}

func checkSection(s Section, flag string) error {
	for _, o := range s.Options {
		if err := checkServiceValue(strings.ToLower(o.Key), o.Value); err != nil {
			return fmt.Errorf("%s: %s: %w", flag, o.Key, err)
		}
	}
	return nil
}

// Get returns the value of key (matched without case), or "".
func (s Section) Get(key string) string {
	for _, o := range s.Options {
		if strings.EqualFold(o.Key, key) {
			return o.Value
		}
	}
	return ""
}
