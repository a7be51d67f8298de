package tunnel

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/wgu-project/wgu/tunnel/config"
)

// checkListenPort fails, before anything is changed, when another socket
// holds the config's ListenPort: wireguard-go would only log the failed
// bind, fall back to a random port and come up unreachable for peers that
// call that port. path (may be "") names the config file in the error.
func checkListenPort(cfg *config.Config, path string) error {
	port := cfg.Interface.ListenPort
	if port == 0 {
		return nil
	}
	// Both families, as wireguard-go binds them ("udp6" is IPv6-only).
	for _, network := range []string{"udp4", "udp6"} {
		c, err := net.ListenUDP(network, &net.UDPAddr{Port: int(port)})
		if err == nil {
			c.Close()
			continue
		}
		if errors.Is(err, syscall.EADDRINUSE) {
			return listenPortInUse(path, port)
		}
		// Anything else (no IPv6 on this host, ...) is wireguard-go's to
		// cope with or report.
	}
	return nil
}

// listenPortInUse is the error for a ListenPort another socket holds.
func listenPortInUse(path string, port uint16) error {
	where := ""
	if path != "" {
		where = path + ": "
		if line := interfaceKeyLine(path, "ListenPort"); line > 0 {
			where = fmt.Sprintf("%s:%d: ", path, line)
		}
	}
	return fmt.Errorf("%sListenPort: UDP port %d is in use by another program "+
		"(expected a free port; leave ListenPort out for a random one)", where, port)
}

// interfaceKeyLine is the 1-based line of the last key (case-insensitive)
// in the [Interface] section of the config file at path (the last one
// wins), or 0.
func interfaceKeyLine(path, key string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	found, inInterface := 0, false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			inInterface = strings.EqualFold(line, "[Interface]")
			continue
		}
		if k, _, ok := strings.Cut(line, "="); ok && inInterface && strings.EqualFold(strings.TrimSpace(k), key) {
			found = n
		}
	}
	return found
}
