package rundir

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// CheckPeer lets a connection on the UAPI or control socket through only
// when the process at the other end (SO_PEERCRED, as the kernel recorded
// it at connect) runs as this process's effective uid or as root. The
// socket's mode and its directory's already keep others out; this holds
// even when those were loosened, by mistake or on purpose. A connection
// that is not a unix socket (a listener handed in by the embedder) carries
// no credentials and is left to whoever made that listener.
func CheckPeer(c net.Conn) error {
	cred, err := peerCred(c)
	if err != nil || cred == nil {
		return err
	}
	if euid := uint32(os.Geteuid()); cred.Uid != euid && cred.Uid != 0 {
		return fmt.Errorf("refused a connection from uid %d (pid %d): only uid %d and root may use this socket", cred.Uid, cred.Pid, euid)
	}
	return nil
}

// CheckServer is checkPeer from the client's side: a socket found in a run
// directory must be served by this user or root (the kernel records the
// listener's credentials), or a client would send a key to, or believe the
// answers of, a socket another user planted. Root may talk to any user's
// daemon.
func CheckServer(c net.Conn, path string) error {
	cred, err := peerCred(c)
	if err != nil || cred == nil {
		return err
	}
	if euid := uint32(os.Geteuid()); euid != 0 && cred.Uid != euid && cred.Uid != 0 {
		return fmt.Errorf("%s is served by uid %d, not by this user (uid %d) or root: not talking to it", path, cred.Uid, euid)
	}
	return nil
}

// peerCred is the SO_PEERCRED of a unix connection; nil for another kind.
func peerCred(c net.Conn) (*unix.Ucred, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, nil
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, fmt.Errorf("peer credentials: %w", err)
	}
	if credErr != nil {
		return nil, fmt.Errorf("peer credentials: %w", credErr)
	}
	return cred, nil
}
