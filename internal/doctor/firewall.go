package doctor

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

const firewallID = "host.firewall"

// checkFirewall looks for rules that drop or reject the listen port, in
// `nft list ruleset` and `iptables-save` output (both only read). It says
// nothing when neither tool can be run (not installed, or not root).
func checkFirewall(ctx context.Context, port uint16) []Result {
	if port == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	read := false
	var rs []Result
	if out, err := exec.CommandContext(ctx, "nft", "list", "ruleset").Output(); err == nil {
		read = true
		for _, r := range nftDrops(string(out), port) {
			rs = append(rs, fail(firewallID, fmt.Sprintf("UDP %d", port),
				fmt.Sprintf("nftables drops the listen port: %s", r),
				"delete that rule (`nft -a list ruleset` shows its handle; `nft delete rule FAMILY TABLE CHAIN handle N`) or accept UDP "+strconv.Itoa(int(port))+" before it"))
		}
	}
	for _, tool := range []string{"iptables-save", "ip6tables-save"} {
		if _, err := exec.LookPath(tool); err != nil {
			continue
		}
		out, err := exec.CommandContext(ctx, tool).Output()
		if err != nil {
			continue
		}
		read = true
		for _, r := range iptablesDrops(string(out), port) {
			rs = append(rs, fail(firewallID, fmt.Sprintf("UDP %d", port),
				fmt.Sprintf("%s shows a rule dropping the listen port: %s", strings.TrimSuffix(tool, "-save"), r),
				"delete it: "+strings.TrimSuffix(tool, "-save")+" "+strings.Replace(r, "-A ", "-D ", 1)))
		}
	}
	if !read {
		return nil
	}
	if len(rs) == 0 {
		return []Result{ok(firewallID, fmt.Sprintf("UDP %d", port), fmt.Sprintf("no firewall rule drops UDP port %d", port))}
	}
	return rs
}

// nftDrops returns the rules of an nft ruleset listing that drop or reject
// UDP traffic to port, each as "table … chain …: rule".
func nftDrops(ruleset string, port uint16) []string {
	var table, chain string
	var found []string
	for _, line := range strings.Split(ruleset, "\n") {
		l := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(l, "table "):
			table = strings.TrimSuffix(strings.TrimPrefix(l, "table "), " {")
			continue
		case strings.HasPrefix(l, "chain "):
			chain = strings.TrimSuffix(strings.TrimPrefix(l, "chain "), " {")
			continue
		}
		if !strings.Contains(l, "dport") || !(strings.Contains(l, "udp") || strings.Contains(l, "th dport")) {
			continue
		}
		fields := strings.Fields(l)
		if fields[len(fields)-1] != "drop" && !slices.Contains(fields, "reject") {
			continue
		}
		if portListed(afterWord(l, "dport"), port) {
			found = append(found, fmt.Sprintf("table %s chain %s: %s", table, chain, l))
		}
	}
	return found
}

// afterWord returns what follows the first occurrence of word in s, up to
// the end of its value (a single token or a {…} set).
func afterWord(s, word string) string {
	i := strings.Index(s, word+" ")
	if i < 0 {
		return ""
	}
	rest := strings.TrimSpace(s[i+len(word)+1:])
	if strings.HasPrefix(rest, "{") {
		if j := strings.Index(rest, "}"); j >= 0 {
			return rest[1:j]
		}
	}
	if strings.HasPrefix(rest, "!=") {
		return "" // everything but the port
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// portListed reports whether port is in a list like "51820", "51820-51830"
// or "22, 51820" (as nft and iptables write them).
func portListed(list string, port uint16) bool {
	for _, item := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
		lo, hi, isRange := strings.Cut(item, "-")
		if !isRange {
			lo, hi, isRange = strings.Cut(item, ":")
		}
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		if int(port) >= a && int(port) <= b {
			return true
		}
	}
	return false
}

// iptablesDrops returns the -A lines of iptables-save output that drop or
// reject UDP to port.
func iptablesDrops(save string, port uint16) []string {
	var found []string
	for _, line := range strings.Split(save, "\n") {
		l := strings.TrimSpace(line)
		if !strings.HasPrefix(l, "-A ") || !strings.Contains(l, "-p udp") {
			continue
		}
		if !strings.Contains(l, "-j DROP") && !strings.Contains(l, "-j REJECT") {
			continue
		}
		if strings.Contains(l, "! --dport") {
			continue
		}
		if p := afterWord(l, "--dport"); p != "" && portListed(p, port) {
			found = append(found, l)
		} else if p := afterWord(l, "--dports"); p != "" && portListed(p, port) {
			found = append(found, l)
		}
	}
	return found
}
