package server

import (
	"context"
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
)

// UnaryInterceptor charges each call to its client IP, and turns the handler's error into
// its status (Status), counting and logging refusals: the one place errors cross the wire.
func (s *Server) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if !ours(info.FullMethod) {
			return h(ctx, req) // health and reflection answer even when the store is down
		}
		if err := s.allowIP(ctx); err != nil {
			return nil, s.wire(ctx, info.FullMethod, err)
		}
		resp, err := h(ctx, req)
		if err != nil {
			return nil, s.wire(ctx, info.FullMethod, err)
		}
		return resp, nil
	}
}

// StreamInterceptor is UnaryInterceptor for streams.
func (s *Server) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if !ours(info.FullMethod) {
			return h(srv, ss)
		}
		if err := s.allowIP(ss.Context()); err != nil {
			return s.wire(ss.Context(), info.FullMethod, err)
		}
		if err := h(srv, ss); err != nil {
			return s.wire(ss.Context(), info.FullMethod, err)
		}
		return nil
	}
}

// ours reports whether a method belongs to RendezvousService.
func ours(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/"+rendezvousv1.RendezvousService_ServiceDesc.ServiceName+"/")
}

func (s *Server) allowIP(ctx context.Context) error {
	return s.ips.allow(ctx, hostOf(observed(ctx)))
}

// wire maps err to its status, counts a refusal and logs it.
func (s *Server) wire(ctx context.Context, method string, err error) error {
	st, reason := Status(err)
	level := slog.LevelDebug
	if reason != "" {
		s.cfg.Metrics.Refused(reason)
		level = slog.LevelInfo
	}
	if st.Code() == codes.Unavailable && reason == "store_unavailable" {
		level = slog.LevelWarn
	}
	s.log.Log(ctx, level, "refused", "method", method, "peer", observed(ctx), "code", st.Code().String(), "reason", reason, "err", err)
	return st.Err()
}
