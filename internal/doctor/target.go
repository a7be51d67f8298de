package doctor

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/wgu-project/wgu/tunnel"
	"github.com/wgu-project/wgu/tunnel/config"
	"github.com/wgu-project/wgu/tunnel/uapi"
)

// Side is one interface's configuration as doctor sees it: the parsed
// config and, when it came from a file, that file's name and peer labels.
type Side struct {
	Config *config.Config
	Path   string // "" when the config was read from a running device
	labels []peerLabel
}

// LoadSide reads a wg-quick config file.
func LoadSide(path string) (*Side, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cfg, err := config.ParseConfig(path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	cfg.Name = trimConf(filepath.Base(path))
	return &Side{Config: cfg, Path: path, labels: scanPeerLabels(bytes.NewReader(b))}, nil
}

func trimConf(base string) string {
	if n := len(base) - len(".conf"); n > 0 && base[n:] == ".conf" {
		return base[:n]
	}
	return base
}

// SideFromStatus makes a Side of a running device that has no config file
// (wireguard-go, or a wgu started from the library): keys, port and peers.
func SideFromStatus(st *uapi.Status) *Side {
	cfg := &config.Config{Name: st.Name}
	cfg.Interface.PrivateKey = st.PrivateKey
	cfg.Interface.ListenPort = st.ListenPort
	cfg.Interface.FwMark = st.FwMark
	for _, p := range st.Peers {
		cfg.Peers = append(cfg.Peers, p.Peer)
	}
	return &Side{Config: cfg}
}

// name is how findings refer to this side: its file's base name.
func (s *Side) name() string {
	if s.Path != "" {
		return filepath.Base(s.Path)
	}
	return s.Config.Name
}

// peer names peer i of this side.
func (s *Side) peer(i int) string { return peerName(s.labels, i, s.Config.Peers[i]) }

// publicKey is this side's public key.
func (s *Side) publicKey() config.Key { return s.Config.Interface.PrivateKey.PublicKey() }

// Running is what doctor knows of a running interface.
type Running struct {
	Status *uapi.Status
	Socket string      // its UAPI socket
	RunDir string      // the directory of the socket
	Mode   tunnel.Mode // "" when unknown (not a wgu daemon)
	// Link is the kernel network interface in TUN mode; "" in netstack mode.
	Link string
}

// Target is what one doctor run examines.
type Target struct {
	*Side
	// Others are the other ends' configs (-c b.conf, --peer-config): with
	// them doctor can check what one file alone cannot tell (keys, endpoints).
	Others  []*Side
	Running *Running // nil when the interface is not up
}
