package udpbind

import (
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/device"
)

// Cookie replies are most of what a hub sends under a flood of handshake
// initiations: once under load, wireguard-go answers each initiation with a
// valid MAC1 but no valid MAC2 with one, from a handshake worker, in a Send
// of its own. At 20,000 initiations a second those sends were a fifth of the
// hub's CPU (perf, the suite's flood row), most of it the cost of a system
// call per 64-byte datagram. So the Bind holds cookie replies for up to
// replyDelay and sends them together, many per sendmmsg. A reply is only a
// hint to retry with a cookie (the initiator retries after 5 s anyway), so a
// millisecond's delay costs nothing, and one that cannot be sent is dropped,
// as a lost datagram would be.

// replyDelay is how long a cookie reply waits for others to share its
// sendmmsg.
const replyDelay = time.Millisecond

// isCookieReply reports whether a Send is one cookie reply.
func isCookieReply(bufs [][]byte) bool {
	return len(bufs) == 1 && len(bufs[0]) == device.MessageCookieReplySize &&
		bufs[0][0] == device.MessageCookieReplyType
}

// queuedReply is a cookie reply waiting to be sent: a copy, so the caller
// keeps its buffer.
type queuedReply struct {
	ep  *Endpoint
	pkt [device.MessageCookieReplySize]byte
}

// replyQueue holds the cookie replies of the next batch.
type replyQueue struct {
	mu     sync.Mutex
	queued []queuedReply // at most batchSize
	timer  *time.Timer   // sends queued after replyDelay; armed while it is not empty
	lists  sync.Pool     // *[]queuedReply of capacity batchSize
}

// add queues a cookie reply to ep; the batch goes out when it is full or
// replyDelay after its first reply.
func (q *replyQueue) add(b *Bind, pkt []byte, ep *Endpoint) {
	q.mu.Lock()
	if q.queued == nil {
		q.queued = q.newList()
	}
	q.queued = append(q.queued, queuedReply{ep: ep})
	copy(q.queued[len(q.queued)-1].pkt[:], pkt)
	var full []queuedReply
	switch len(q.queued) {
	case batchSize:
		full = q.take()
	case 1:
		if q.timer == nil {
			q.timer = time.AfterFunc(replyDelay, func() { q.flush(b) })
		} else {
			q.timer.Reset(replyDelay)
		}
	}
	q.mu.Unlock()
	if full != nil {
		b.sendReplies(full)
		q.recycle(full)
	}
}

// flush sends what is queued.
func (q *replyQueue) flush(b *Bind) {
	q.mu.Lock()
	list := q.take()
	q.mu.Unlock()
	if len(list) > 0 {
		b.sendReplies(list)
	}
	q.recycle(list)
}

// take removes the queued replies and stops the timer; q.mu is held.
func (q *replyQueue) take() []queuedReply {
	list := q.queued
	q.queued = nil
	if q.timer != nil {
		q.timer.Stop()
	}
	return list
}

// drop forgets the queued replies (the Bind closed).
func (q *replyQueue) drop() {
	q.mu.Lock()
	list := q.take()
	q.mu.Unlock()
	q.recycle(list)
}

func (q *replyQueue) newList() []queuedReply {
	if l, ok := q.lists.Get().(*[]queuedReply); ok {
		return (*l)[:0]
	}
	return make([]queuedReply, 0, batchSize)
}

func (q *replyQueue) recycle(list []queuedReply) {
	if cap(list) != batchSize {
		return
	}
	clear(list) // no endpoints kept alive by the pool
	list = list[:0]
	q.lists.Put(&list)
}

// sendReplies sends a batch of cookie replies, each from its endpoint's
// sticky source, in one sendmmsg per address family (more if the socket
// buffer fills). A reply the kernel refuses is dropped and the rest go on.
func (b *Bind) sendReplies(list []queuedReply) {
	sb := b.getBatch()
	defer b.sends.Put(sb)
	for _, is6 := range []bool{false, true} {
		n := 0
		for i := range list {
			r := &list[i]
			if r.ep.dst.Addr().Is6() != is6 {
				continue
			}
			namelen := fillSockaddr(&sb.names[n], r.ep.dst, r.ep.scope, is6)
			sb.iovs[n] = iovec(r.pkt[:])
			src, ifindex, sticky := r.ep.sticky()
			sb.setMsg(n, &sb.names[n], namelen, n, 1, sb.oobFor(n, src, ifindex, sticky && src.Is6() == is6, is6))
			n++
		}
		if n == 0 {
			continue
		}
		s := b.familySocket(is6)
		if s == nil {
			continue
		}
		sb.pending, sb.errno = sb.msgs[:n], 0
		for len(sb.pending) > 0 {
			if err := s.raw.Write(sb.writeFn); err != nil {
				break // the socket closed
			}
			if sb.errno != 0 {
				// The first pending reply failed (its source went away,
				// no route): drop it, send the rest.
				sb.pending, sb.errno = sb.pending[1:], 0
			}
		}
	}
}
