package natlab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unsafe"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The kernel of the machine the lab was written on has no netem qdisc, so delay is
// done in user space: the internet router sends the packets of a link to an NFQUEUE,
// a delayer of the test process holds each packet's verdict for the delay, then
// accepts it. Packets leave in arrival order.
//
// The delayer is the lab's link, not a party to the measurement, so it costs as
// little CPU as it can: one recvmmsg reads up to delayerBatch queued packets, and one
// batch verdict accepts every packet that is due at once (the kernel accepts every
// queued ID up to the one given, and the queue is in arrival order), and a GSO run
// is held whole (configure). Its CPU once showed as a third of what a 50 MiB transfer
// cost on the two cores the whole lab shares, more on a relayed path (two links) than
// on a direct one.

// nfnetlink_queue constants (linux/netfilter/nfnetlink_queue.h).
const (
	nfnlSubsysQueue   = 3
	nfqnlMsgPacket    = 0
	nfqnlMsgConfig    = 2
	nfqnlMsgBatch     = 3
	nfqaPacketHdr     = 1
	nfqaVerdictHdr    = 2
	nfqaCfgCmd        = 1
	nfqaCfgParams     = 2
	nfqaCfgQueueMax   = 3
	nfqaCfgMask       = 4
	nfqaCfgFlags      = 5
	nfqaCfgFGSO       = 1 << 2
	nfqnlCfgCmdBind   = 1
	nfqnlCopyMeta     = 1
	nfAccept          = 1
	delayerQueueLimit = 65536
	delayerBatch      = 64   // queue messages one recvmmsg reads
	delayerMessageMax = 1024 // a packet message without payload (copy mode meta) is ~150 bytes
)

// delayer holds the packets of one NFQUEUE for a delay before accepting them.
type delayer struct {
	conn   *netlink.Conn
	queue  uint16
	delay  time.Duration
	jitter time.Duration
	held   chan heldPacket
	wg     sync.WaitGroup
}

type heldPacket struct {
	id  uint32
	due time.Time
}

// startDelayer binds NFQUEUE queue inside namespace ns and delays its packets.
func startDelayer(ns string, queue uint16, delay, jitter time.Duration) (*delayer, error) {
	nsFile, err := os.Open(filepath.Join(netnsDir, ns))
	if err != nil {
		return nil, fmt.Errorf("natlab: delay: open namespace %s: %w", ns, err)
	}
	defer nsFile.Close()
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: int(nsFile.Fd())})
	if err != nil {
		return nil, fmt.Errorf("natlab: delay: netlink in %s: %w", ns, err)
	}
	_ = conn.SetReadBuffer(8 << 20)
	d := &delayer{conn: conn, queue: queue, delay: delay, jitter: jitter, held: make(chan heldPacket, delayerQueueLimit)}
	if err := d.configure(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("natlab: delay: bind queue %d in %s: %w", queue, ns, err)
	}
	d.wg.Add(2)
	go d.receive()
	go d.release()
	return d, nil
}

func (d *delayer) message(msgType uint16, attrs func(*netlink.AttributeEncoder)) (netlink.Message, error) {
	ae := netlink.NewAttributeEncoder()
	attrs(ae)
	b, err := ae.Encode()
	if err != nil {
		return netlink.Message{}, err
	}
	gen := []byte{unix.AF_UNSPEC, 0, 0, 0} // nfgenmsg: family, version, queue (big endian)
	binary.BigEndian.PutUint16(gen[2:], d.queue)
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(nfnlSubsysQueue<<8 | msgType), Flags: netlink.Request},
		Data:   append(gen, b...),
	}, nil
}

func (d *delayer) configure() error {
	for _, attrs := range []func(*netlink.AttributeEncoder){
		func(ae *netlink.AttributeEncoder) { ae.Bytes(nfqaCfgCmd, []byte{nfqnlCfgCmdBind, 0, 0, unix.AF_INET}) },
		func(ae *netlink.AttributeEncoder) {
			ae.Bytes(nfqaCfgParams, []byte{0, 0, 0, 0, nfqnlCopyMeta})
			ae.Bytes(nfqaCfgQueueMax, binary.BigEndian.AppendUint32(nil, delayerQueueLimit))
			// A GSO run (one buffer the sender's kernel cuts into datagrams at the last
			// hop) is held and accepted whole, as the routers before and after forward
			// it whole, instead of being cut here into datagrams each held alone.
			ae.Bytes(nfqaCfgMask, binary.BigEndian.AppendUint32(nil, nfqaCfgFGSO))
			ae.Bytes(nfqaCfgFlags, binary.BigEndian.AppendUint32(nil, nfqaCfgFGSO))
		},
	} {
		m, err := d.message(nfqnlMsgConfig, attrs)
		if err != nil {
			return err
		}
		m.Header.Flags |= netlink.Acknowledge
		if _, err := d.conn.Execute(m); err != nil {
			return err
		}
	}
	return nil
}

// receive reads queued packets' IDs and hands them to release with their due time.
func (d *delayer) receive() {
	defer d.wg.Done()
	defer close(d.held)
	rc, err := d.conn.SyscallConn()
	if err != nil {
		return
	}
	bufs := make([][delayerMessageMax]byte, delayerBatch)
	iovs := make([]unix.Iovec, delayerBatch)
	hdrs := make([]mmsghdr, delayerBatch)
	for i := range hdrs {
		iovs[i].Base = &bufs[i][0]
		iovs[i].SetLen(delayerMessageMax)
		hdrs[i].Hdr.Iov = &iovs[i]
		hdrs[i].Hdr.SetIovlen(1)
	}
	for {
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&hdrs[0])), uintptr(len(hdrs)), unix.MSG_DONTWAIT, 0, 0)
			n, rerr = int(r), nil
			if errno != 0 {
				n, rerr = 0, errno
			}
			return errno != unix.EAGAIN
		})
		if err != nil {
			return // closed
		}
		if rerr != nil {
			if errors.Is(rerr, unix.ENOBUFS) || errors.Is(rerr, unix.EINTR) {
				continue // the kernel dropped some queue messages; bypass lets them pass
			}
			return
		}
		now := time.Now()
		for i := range n {
			for _, id := range packetIDs(bufs[i][:hdrs[i].Len]) {
				due := now.Add(d.delay)
				if d.jitter > 0 {
					due = due.Add(time.Duration(rand.Int64N(int64(2*d.jitter))) - d.jitter)
				}
				d.held <- heldPacket{id, due}
			}
		}
	}
}

// mmsghdr is struct mmsghdr (linux/socket.h), which golang.org/x/sys/unix names
// only on some architectures.
type mmsghdr struct {
	Hdr unix.Msghdr
	Len uint32 // Go pads the struct to Msghdr's alignment, as C does
}

// packetIDs returns the queue's packet IDs of the NFQNL_MSG_PACKET messages in one
// netlink datagram.
func packetIDs(b []byte) []uint32 {
	var ids []uint32
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b))
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			break
		}
		m := netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(binary.NativeEndian.Uint16(b[4:]))}, Data: b[unix.NLMSG_HDRLEN:l]}
		if id, ok := packetID(m); ok {
			ids = append(ids, id)
		}
		b = b[min(len(b), (l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1)):]
	}
	return ids
}

// packetID returns the queue's packet ID of an NFQNL_MSG_PACKET message.
func packetID(m netlink.Message) (uint32, bool) {
	if m.Header.Type != netlink.HeaderType(nfnlSubsysQueue<<8|nfqnlMsgPacket) || len(m.Data) < 4 {
		return 0, false
	}
	ad, err := netlink.NewAttributeDecoder(m.Data[4:])
	if err != nil {
		return 0, false
	}
	for ad.Next() {
		if ad.Type() == nfqaPacketHdr && len(ad.Bytes()) >= 4 {
			return binary.BigEndian.Uint32(ad.Bytes()), true
		}
	}
	return 0, false
}

// release accepts each held packet when it is due, in arrival order: once the
// oldest is due, one batch verdict accepts it and every later one due by then.
func (d *delayer) release() {
	defer d.wg.Done()
	next, ok := <-d.held
	for ok {
		if wait := time.Until(next.due); wait > 0 {
			time.Sleep(wait)
		}
		last := next.id
		var more bool
		next, ok, more = d.due(&last)
		verdict := binary.BigEndian.AppendUint32(nil, nfAccept)
		verdict = binary.BigEndian.AppendUint32(verdict, last)
		m, err := d.message(nfqnlMsgBatch, func(ae *netlink.AttributeEncoder) { ae.Bytes(nfqaVerdictHdr, verdict) })
		if err == nil {
			_, _ = d.conn.Send(m)
		}
		if ok && !more {
			next, ok = <-d.held
		}
	}
}

// due takes the held packets that are due now without waiting, setting *last to
// the last one's ID. It returns the first held packet that is not due yet (more),
// or ok false once the receiver has stopped.
func (d *delayer) due(last *uint32) (next heldPacket, ok, more bool) {
	for {
		select {
		case p, ok := <-d.held:
			if !ok {
				return p, false, false
			}
			if time.Now().Before(p.due) {
				return p, true, true
			}
			*last = p.id
		default:
			return heldPacket{}, true, false
		}
	}
}

// Close stops the delayer and waits for its goroutines (at most the delay). The
// caller deletes the NFQUEUE rule first; packets the kernel still holds for the
// queue are dropped with it, as a cut link would.
func (d *delayer) Close() error {
	err := d.conn.Close()
	d.wg.Wait()
	return err
}
