package bufpool

import (
	"bytes"
	"runtime"
	"testing"
)

// TestBuffers: a buffer has room for a full-size datagram (so that the pool can lend
// it for any), or for a longer one its own length; Copy copies; a longer buffer does
// not go back to the pool.
func TestBuffers(t *testing.T) {
	runtime.GC() // twice: a sync.Pool keeps its items one collection more
	runtime.GC()
	Put(make([]byte, 0, 3*Size))
	for _, n := range []int{0, 100, Size} {
		if b := Get(n); len(b) != 0 || cap(b) != Size {
			t.Errorf("Get(%d): len %d cap %d, want 0 and %d", n, len(b), cap(b), Size)
		}
	}
	if b := Get(2 * Size); len(b) != 0 || cap(b) < 2*Size {
		t.Errorf("Get(%d): len %d cap %d, want 0 and at least %d", 2*Size, len(b), cap(b), 2*Size)
	}
	for _, n := range []int{1, 100, Size, 2 * Size} {
		src := bytes.Repeat([]byte{byte(n)}, n)
		c := Copy(src)
		if !bytes.Equal(c, src) {
			t.Errorf("Copy of %d bytes: got %d bytes", n, len(c))
		}
		if n <= Size && cap(c) != Size {
			t.Errorf("Copy of %d bytes: capacity %d, want %d", n, cap(c), Size)
		}
		Put(c)
	}
}
