package doctor

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

// probeDevice is a throwaway wireguard-go device with the interface's
// private key, on a random UDP port and with no packets behind it: it
// sends real handshake initiations to the peers and records their answers.
// It is how doctor checks reachability for a config that is not up.
type probeDevice struct {
	dev *device.Device
	tun *nullTUN
}

func newProbeDevice(priv config.Key) (*probeDevice, error) {
	t := &nullTUN{events: make(chan tun.Event, 1), closed: make(chan struct{})}
	dev := device.NewDevice(t, conn.NewDefaultBind(), device.NewLogger(device.LogLevelSilent, ""))
	if err := dev.IpcSet("private_key=" + priv.Hex() + "\nlisten_port=0\n"); err != nil {
		dev.Close()
		return nil, fmt.Errorf("probe device: %w", err)
	}
	if err := dev.Up(); err != nil {
		dev.Close()
		return nil, fmt.Errorf("probe device: %w", err)
	}
	return &probeDevice{dev: dev, tun: t}, nil
}

// initiate adds a peer at ep and sends it a handshake initiation.
func (p *probeDevice) initiate(pub, psk config.Key, ep netip.AddrPort) error {
	body := "public_key=" + pub.Hex() + "\n"
	if !psk.IsZero() {
		body += "preshared_key=" + psk.Hex() + "\n"
	}
	body += "endpoint=" + ep.String() + "\n"
	if err := p.dev.IpcSet(body); err != nil {
		return fmt.Errorf("probe device: %w", err)
	}
	var npk device.NoisePublicKey
	copy(npk[:], pub[:])
	peer := p.dev.LookupPeer(npk)
	if peer == nil {
		return fmt.Errorf("probe device: peer %s vanished", pub)
	}
	return peer.SendHandshakeInitiation(false)
}

// handshakes returns the peers (by public key) that completed a handshake.
func (p *probeDevice) handshakes() map[config.Key]bool {
	body, err := p.dev.IpcGet()
	if err != nil {
		return nil
	}
	st, err := uapi.ParseStatus(bufio.NewReader(strings.NewReader(body + "errno=0\n\n")))
	if err != nil {
		return nil
	}
	done := map[config.Key]bool{}
	for _, peer := range st.Peers {
		if !peer.LastHandshake.IsZero() {
			done[peer.PublicKey] = true
		}
	}
	return done
}

func (p *probeDevice) close() { p.dev.Close() }

// nullTUN is a tun.Device with nothing behind it: reads block until Close,
// writes are dropped. The probe only ever carries handshakes.
type nullTUN struct {
	events chan tun.Event
	closed chan struct{}
	once   sync.Once
}

func (t *nullTUN) File() *os.File { return nil }
func (t *nullTUN) Read([][]byte, []int, int) (int, error) {
	<-t.closed
	return 0, os.ErrClosed
}
func (t *nullTUN) Write(bufs [][]byte, _ int) (int, error) { return len(bufs), nil }
func (t *nullTUN) MTU() (int, error)                       { return 1420, nil }
func (t *nullTUN) Name() (string, error)                   { return "doctor-probe", nil }
func (t *nullTUN) Events() <-chan tun.Event                { return t.events }
func (t *nullTUN) BatchSize() int                          { return 1 }
func (t *nullTUN) Close() error {
	t.once.Do(func() { close(t.closed); close(t.events) })
	return nil
}

// pollEvery is how often doctor looks for a handshake to complete.
const pollEvery = 50 * time.Millisecond
