package main

import (
	"log/slog"

	"github.com/coreos/go-systemd/v22/daemon"
)

// notifySystemd tells systemd (Type=notify units) about the tunnel's state;
// outside systemd (no NOTIFY_SOCKET) it does nothing.
func notifySystemd(log *slog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("notifying systemd", "err", err)
	}
}
