package uapi

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/wgu-project/wgu/tunnel/config"
)

// checkNoSecret fails t if any form of any of the keys appears in what.
func checkNoSecret(t *testing.T, label, what string, keys ...config.SecretKey) {
	t.Helper()
	for _, k := range keys {
		raw := k.Reveal()
		for _, form := range []string{raw.String(), raw.Hex(), strings.Trim(fmt.Sprint([config.KeyLen]byte(raw)), "[]")} {
			if strings.Contains(what, form) {
				t.Errorf("%s shows a secret key (%.8s...):\n%s", label, form, what)
				return
			}
		}
	}
}

// A Status carries the device's private key and the peers' preshared keys:
// printing or encoding it shows placeholders only.
func TestStatusNeverPrintsSecrets(t *testing.T) {
	priv, _ := config.GeneratePrivateKey()
	psk, _ := config.GeneratePresharedKey()
	peerPriv, _ := config.GeneratePrivateKey()
	peer := config.Peer{PublicKey: peerPriv.PublicKey(), PresharedKey: psk, AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")}}
	st := &Status{Name: "wg0", PrivateKey: priv, ListenPort: 51820, Peers: []PeerStatus{{Peer: peer, RxBytes: 1}}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		for name, v := range map[string]any{"*Status": st, "Status": *st} {
			checkNoSecret(t, fmt.Sprintf("fmt %s of %s", verb, name), fmt.Sprintf(verb, v), priv, psk)
		}
	}
	for name, v := range map[string]any{"*Status": st, "Status": *st} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json of %s: %v", name, err)
		}
		checkNoSecret(t, "JSON of "+name, string(b), priv, psk)
	}
	// A UAPI get reply with a broken key line.
	_, err := ParseStatus(bufio.NewReader(strings.NewReader("private_key=" + priv.Reveal().Hex()[:63] + "z\nerrno=0\n\n")))
	if err == nil {
		t.Fatal("a bad private_key in a UAPI reply was accepted")
	}
	checkNoSecret(t, "UAPI error", err.Error(), priv)
}
