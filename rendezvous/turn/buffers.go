package turn

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// Socket buffer sizes (issue 20, stop 18). A relay socket takes a friend's whole
// stream towards the allocating peer at once, and the server's main socket every
// client's ChannelData: with the kernel's default (about 208 KiB) a pause of the
// relaying goroutine of a few tens of milliseconds, common on a loaded host, drops
// datagrams, and QUIC's congestion control halves its rate for each loss. The memory
// is only used while datagrams wait.
const (
	// relayBuffer is each relay socket's receive and send buffer.
	relayBuffer = 1 << 20
	// mainBuffer is the STUN/TURN socket's receive and send buffer.
	mainBuffer = 4 << 20
)

// growBuffers asks for n-byte receive and send buffers on pc, past net.core.rmem_max
// and wmem_max when the process may (CAP_NET_ADMIN: SO_RCVBUFFORCE); it keeps what it
// gets otherwise: a smaller buffer works, only less well under load.
func growBuffers(pc net.PacketConn, n int) {
	type buffered interface {
		SetReadBuffer(int) error
		SetWriteBuffer(int) error
		SyscallConn() (syscall.RawConn, error)
	}
	b, ok := pc.(buffered)
	if !ok {
		return
	}
	_ = b.SetReadBuffer(n)
	_ = b.SetWriteBuffer(n)
	raw, err := b.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n)
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, n)
	})
}
