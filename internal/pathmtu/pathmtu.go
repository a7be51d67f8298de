// Package pathmtu measures the path MTU towards a UDP destination the way
// the kernel learns it: DF-set datagrams of the size to test, then the
// kernel's cached path MTU for that destination. `wgu doctor` reports it;
// `wgu up` uses it to choose an MTU that fits when the config sets none.
package pathmtu

import "time"

// DefaultWait is how long Probe waits for a router's ICMP "fragmentation
// needed" after each datagram: enough for a LAN or a nearby hop.
const DefaultWait = 150 * time.Millisecond
