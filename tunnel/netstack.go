package tunnel

import (
	"errors"
	"log/slog"

	"golang.zx2c4.com/wireguard/tun"
)

func createNetstack(cfg *Config, log *slog.Logger) (tun.Device, error) {
	return nil, errors.New("netstack mode: not yet available")
}
