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

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The kernel of the machine the lab was written on has no netem qdisc, so delay is
// done in user space: the internet router sends the packets of a link to an NFQUEUE,
// a delayer of the test process holds each packet's verdict for the delay, then
// accepts it. Packets leave in arrival order.

// nfnetlink_queue constants (linux/netfilter/nfnetlink_queue.h).
const (
	nfnlSubsysQueue   = 3
	nfqnlMsgPacket    = 0
	nfqnlMsgVerdict   = 1
	nfqnlMsgConfig    = 2
	nfqaPacketHdr     = 1
	nfqaVerdictHdr    = 2
	nfqaCfgCmd        = 1
	nfqaCfgParams     = 2
	nfqaCfgQueueMax   = 3
	nfqnlCfgCmdBind   = 1
	nfqnlCopyMeta     = 1
	nfAccept          = 1
	delayerQueueLimit = 65536
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
	for {
		msgs, err := d.conn.Receive()
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) {
				continue // the kernel dropped some queue messages; bypass lets them pass
			}
			return // closed
		}
		now := time.Now()
		for _, m := range msgs {
			id, ok := packetID(m)
			if !ok {
				continue
			}
			due := now.Add(d.delay)
			if d.jitter > 0 {
				due = due.Add(time.Duration(rand.Int64N(int64(2*d.jitter))) - d.jitter)
			}
			d.held <- heldPacket{id, due}
		}
	}
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

// release accepts each held packet when it is due, in arrival order.
func (d *delayer) release() {
	defer d.wg.Done()
	for p := range d.held {
		if wait := time.Until(p.due); wait > 0 {
			time.Sleep(wait)
		}
		verdict := binary.BigEndian.AppendUint32(nil, nfAccept)
		verdict = binary.BigEndian.AppendUint32(verdict, p.id)
		m, err := d.message(nfqnlMsgVerdict, func(ae *netlink.AttributeEncoder) { ae.Bytes(nfqaVerdictHdr, verdict) })
		if err == nil {
			_, _ = d.conn.Send(m)
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
