package main

import (
	"crypto/ecdh"
	"crypto/rand"
	"testing"

	"golang.zx2c4.com/wireguard/device"
)

// TestInitiationPassesMAC1 checks the crafted packets against wireguard-go's
// own cookie checker: valid MAC1 for the hub's key, invalid for another.
func TestInitiationPassesMAC1(t *testing.T) {
	hub, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var checker, otherChecker device.CookieChecker
	checker.Init(device.NoisePublicKey(hub.PublicKey().Bytes()))
	otherChecker.Init(device.NoisePublicKey(other.PublicKey().Bytes()))

	key := mac1Key([32]byte(hub.PublicKey().Bytes()))
	p := make([]byte, initiationSize)
	for range 10 {
		if err := initiation(p, &key); err != nil {
			t.Fatal(err)
		}
		if p[0] != initiationType || p[1] != 0 || len(p) != device.MessageInitiationSize {
			t.Fatalf("not an initiation: % x", p[:4])
		}
		if !checker.CheckMAC1(p) {
			t.Fatal("MAC1 refused by the hub's checker")
		}
		if otherChecker.CheckMAC1(p) {
			t.Fatal("MAC1 accepted for another key")
		}
	}
}
