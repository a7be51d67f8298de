package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The daemon `wgu up` starts stays in the caller's session, in a process
// group of its own, as wireguard-go's daemon does: a session of its own
// would put it in a scheduler autogroup apart from the applications whose
// traffic it carries, which costs throughput (issue 17).
func TestDaemonStaysInCallerSession(t *testing.T) {
	RequireE2E(t)
	lab := NewLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	dir := t.TempDir()
	host, other := lab.Netns("host"), lab.Netns("other")
	lab.Link(host, other, netip.MustParsePrefix("172.31.0.2/24"), hubPublic)
	name := lab.IfName("sid")
	k, peer := newKeyPair(t), newKeyPair(t)
	path := writeConfig(t, dir, name, fmt.Sprintf(`[Interface]
PrivateKey = %s
Address = 10.0.0.2/24

[Peer]
PublicKey = %s
Endpoint = %s:%d
AllowedIPs = 10.0.0.1/32
`, k.Private, peer.Public, hubPublic.Addr(), hubPort))

	wguUp(ctx, t, host, path)
	pid := daemonPID(ctx, t, host, name)
	sid, err := unix.Getsid(pid)
	if err != nil {
		t.Fatalf("getsid(%d): %v", pid, err)
	}
	// ip netns exec starts no session, so the caller's is the test's.
	if own, _ := unix.Getsid(0); sid != own {
		t.Errorf("daemon %d is in session %d, the caller in %d: want the caller's", pid, sid, own)
	}
	if pgid, err := syscall.Getpgid(pid); err != nil || pgid != pid {
		t.Errorf("daemon %d is in process group %d (%v): want its own", pid, pgid, err)
	}
}
