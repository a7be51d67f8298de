package tunnel

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// checkPeer lets a connection on the UAPI or control socket through only
// when the process at the other end (SO_PEERCRED, as the kernel recorded
// it at connect) runs as this process's effective uid or as root. The
// socket's mode and its directory's already keep others out; this holds
// even when those were loosened, by mistake or on purpose. A connection
// that is not a unix socket (a listener handed in by the embedder) carries
// no credentials and is left to whoever made that listener.
func checkPeer(c net.Conn) error {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return fmt.Errorf("peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return fmt.Errorf("peer credentials: %w", err)
	}
	if credErr != nil {
		return fmt.Errorf("peer credentials: %w", credErr)
	}
	if euid := uint32(os.Geteuid()); cred.Uid != euid && cred.Uid != 0 {
		return fmt.Errorf("refused a connection from uid %d (pid %d): only uid %d and root may use this socket", cred.Uid, cred.Pid, euid)
	}
	return nil
}
