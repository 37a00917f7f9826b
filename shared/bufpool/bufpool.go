// Package bufpool lends datagram buffers: a relay or a receiving peer queues tens of
// thousands of datagrams a second during a transfer, and a fresh buffer for each made
// garbage at the rate of the transfer, collected on the cores the transfer needs.
//
// A buffer is borrowed with Copy (or Get and append) and given back with Put once
// nothing refers to it; one given back too early is reused under its holder, so Put
// belongs right after the last read.
package bufpool

import "sync"

// Size is the capacity of a pooled buffer: a full-size datagram on an Ethernet path.
// Longer datagrams get buffers of their own, which Put does not keep.
const Size = 1500

var pool = sync.Pool{New: func() any { return new([]byte) }}

// Get returns an empty buffer with room for n bytes: a pooled one of capacity Size
// when n fits, else one of its own.
func Get(n int) []byte {
	if n > Size {
		return make([]byte, 0, n)
	}
	b := *pool.Get().(*[]byte)
	if cap(b) < Size {
		b = make([]byte, 0, Size)
	}
	return b[:0]
}

// Copy returns a copy of b in a buffer from Get.
func Copy(b []byte) []byte { return append(Get(len(b)), b...) }

// Put gives b back, if it came from the pool.
func Put(b []byte) {
	if cap(b) == Size {
		pool.Put(&b)
	}
}
