package daemon

import (
	"errors"
	"io"
	"sync/atomic"

	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// exportChunk is the size of one ExportHome message.
const exportChunk = 256 << 10

// ExportHome streams a consistent snapshot of the home (store and blobs) as a tar stream;
// the CLI encrypts it on the way to the file.
func (l *Local) ExportHome(_ *localv1.ExportHomeRequest, stream localv1.LocalService_ExportHomeServer) error {
	pr, pw := io.Pipe()
	var total atomic.Uint64
	done := make(chan error, 1)
	go func() {
		err := l.st.Export(pw, func(_, t uint64) { total.Store(t) })
		pw.CloseWithError(err)
		done <- err
	}()
	buf := make([]byte, exportChunk)
	for {
		n, err := io.ReadFull(pr, buf)
		if n > 0 {
			if serr := stream.Send(&localv1.ExportHomeResponse{Chunk: buf[:n], Total: total.Load()}); serr != nil {
				pr.CloseWithError(serr)
				<-done
				return serr
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return grpcError(<-done)
		}
		if err != nil {
			<-done
			return grpcError(err)
		}
	}
}
