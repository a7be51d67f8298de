package main

import (
	"context"
	"fmt"
	"syscall"
	"time"
)

// rowPeerEngine is the rootless reference: what users would run instead of
// wgu's netstack (wireproxy and tools like it).
const rowPeerEngine = "peer-engine"

func peerEngineRow() rowSpec {
	return rowSpec{id: rowPeerEngine, name: "wireguard-go netstack + gonet forward ↔ wgu TUN", setup: setupPeerEngine,
		desc: "the rootless reference, as wireproxy runs it: A runs wireguard-go's own tun/netstack engine on its default bind " +
			"with a TCP forward relaying 127.0.0.1:5201 to 10.77.0.2:5201 by io.Copy through gonet (benchmarks/internal/peerengine, " +
			"same wg-quick file as wgu's); B: wgu TUN. Compare with `wgu-netstack-1`, which differs only in A's engine"}
}

// setupPeerEngine: side A on wireguard-go's netstack with a forward; B on
// wgu TUN, as in setupWguNetstack1.
func setupPeerEngine(ctx context.Context, e *rowEnv) (*tunnelSetup, error) {
	if e.bench.peerEngine == "" {
		return nil, skipError{"the peer engine (benchmarks/internal/peerengine) was not built"}
	}
	a, b := e.ends()
	pidB, err := e.wguUp(ctx, b, "tun")
	if err != nil {
		return nil, err
	}
	path, err := e.writeConfig(a, true)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	p, err := a.ns.StartEnv(nil, e.bench.peerEngine, "-c", path,
		"-forward", fmt.Sprintf("%s:%d=%s:%d", loopIP, perfPrt, tunB.Addr(), perfPrt), "-ready", tunB.Addr().String())
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, firstReplyTimeout+5*time.Second)
	err = p.WaitOutput(wctx, "ready")
	cancel()
	if err != nil {
		return nil, err
	}
	startup := time.Since(start)
	e.notes = appendUnique(e.notes, "no ping figures: the peer engine has no ping command (its start-up time is to its first ping reply, sent from inside it)")
	downB := e.wguDown(b)
	return &tunnelSetup{target: loopIP, startup: startup, pids: []int{p.Pid(), pidB}, pidsAB: true,
		teardown: func(ctx context.Context) {
			_ = p.Signal(syscall.SIGTERM)
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_ = p.Wait(wctx)
			cancel()
			downB(ctx)
		}}, nil
}
