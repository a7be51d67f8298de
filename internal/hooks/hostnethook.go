package hooks

import (
	"path"
	"strings"
)

// A netstack tunnel has no kernel interface, so the hooks a kernel
// WireGuard setup needs (a hub's `sysctl -w net.ipv4.ip_forward=1`, its
// iptables FORWARD and MASQUERADE rules, `resolvconf`) have nothing to act
// on: the netstack routes between peers itself. HostNetworkOnly recognises
// such hooks from their text, before anything runs.

// HostNetworkOnly reports whether the hook command line cmdline only
// configures the host's network stack. That is the case when it is a list
// of simple commands (joined by ;, &&, ||, | or newlines) each of which is
//
//   - one of the host network tools: ip (but not `ip netns exec`), iptables,
//     ip6tables and their -legacy/-nft/-save/-restore variants, nft,
//     ebtables, arptables, tc, ethtool, route, ifconfig, bridge, brctl,
//     resolvconf, resolvectl, firewall-cmd, ufw; or sysctl with only net.*
//     keys; or echo/printf redirected into /proc/sys/net/;
//   - or harmless around them: true, :, echo or printf without redirection;
//
// with at least one of the first kind, optionally behind sudo, doas,
// command, exec, env or VAR=value assignments, and with no output
// redirected anywhere but /dev/null. Anything the check does not fully
// understand (subshells, functions, if/for/while, a command name made by
// expansion) is not host-network only, so it runs.
func HostNetworkOnly(cmdline string) bool {
	cmds, ok := splitShellCommands(cmdline)
	if !ok {
		return false
	}
	host := false
	for _, c := range cmds {
		switch classifyCommand(c) {
		case commandHostNetwork:
			host = true
		case commandNeutral:
		default:
			return false
		}
	}
	return host
}

type commandClass int

const (
	commandOther       commandClass = iota
	commandNeutral                  // does nothing that matters (true, echo)
	commandHostNetwork              // configures the host's network only
)

func classifyCommand(c shellCommand) commandClass {
	words := c.words
	// Leading assignments and wrappers that run the rest as the command.
	for len(words) > 0 {
		w := words[0]
		switch {
		case w.dynamic:
			return commandOther
		case isAssignment(w.text):
			words = words[1:]
			continue
		}
		switch w.text {
		case "sudo", "doas", "command", "exec", "env":
			words = words[1:]
			for len(words) > 0 && !words[0].dynamic && (strings.HasPrefix(words[0].text, "-") || isAssignment(words[0].text)) {
				words = words[1:]
			}
			continue
		}
		break
	}
	if len(words) == 0 || words[0].dynamic {
		return commandOther
	}
	name := path.Base(words[0].text)
	args := words[1:]
	switch name {
	case "true", ":":
		return commandNeutral
	}
	targets, ok := c.outputTargets()
	if !ok {
		return commandOther
	}
	if name == "echo" || name == "printf" {
		if len(targets) == 0 {
			return commandNeutral
		}
		for _, t := range targets {
			if !strings.HasPrefix(path.Clean(t), "/proc/sys/net/") {
				return commandOther
			}
		}
		return commandHostNetwork
	}
	for _, t := range targets {
		if t != "/dev/null" {
			return commandOther
		}
	}
	switch name {
	case "ip":
		for i := 0; i+1 < len(args); i++ {
			if args[i].text == "netns" && args[i+1].text == "exec" {
				return commandOther
			}
		}
		return commandHostNetwork
	case "sysctl":
		if sysctlNetOnly(args) {
			return commandHostNetwork
		}
		return commandOther
	case "nft", "ebtables", "arptables", "tc", "ethtool", "route", "ifconfig", "bridge", "brctl",
		"resolvconf", "resolvectl", "firewall-cmd", "ufw":
		return commandHostNetwork
	}
	if strings.HasPrefix(name, "iptables") || strings.HasPrefix(name, "ip6tables") {
		return commandHostNetwork
	}
	return commandOther
}

// sysctlNetOnly reports whether sysctl's arguments read or write net.*
// keys only (no -p FILE, no --system).
func sysctlNetOnly(args []shellWord) bool {
	keys := 0
	for _, a := range args {
		if a.dynamic {
			return false
		}
		switch a.text {
		case "-w", "--write", "-q", "--quiet", "-e", "--ignore", "-n", "--values", "-N", "--names":
			continue
		}
		if strings.HasPrefix(a.text, "-") {
			return false
		}
		key, _, _ := strings.Cut(a.text, "=")
		if !strings.HasPrefix(key, "net.") && !strings.HasPrefix(key, "net/") {
			return false
		}
		keys++
	}
	return keys > 0
}

// isAssignment reports a NAME=value word.
func isAssignment(w string) bool {
	name, _, ok := strings.Cut(w, "=")
	if !ok || name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
