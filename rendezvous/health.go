package rendezvous

import (
	"context"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	rendezvousv1 "github.com/kithnet/kith/proto/kith/rendezvous/v1"
)

// setHealth sets the overall status and the service's.
func (inst *Instance) setHealth(st healthpb.HealthCheckResponse_ServingStatus) {
	inst.health.SetServingStatus("", st)
	inst.health.SetServingStatus(rendezvousv1.RendezvousService_ServiceDesc.ServiceName, st)
}

// pinger is a store that can say whether it is reachable.
type pinger interface {
	Ping(ctx context.Context) error
}

// watchStore reports NOT_SERVING while the store does not answer, SERVING when it does.
func (inst *Instance) watchStore(p pinger) {
	defer inst.wg.Done()
	tick := time.NewTicker(inst.cfg.HealthInterval)
	defer tick.Stop()
	healthy := true
	for {
		select {
		case <-inst.done:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), inst.cfg.HealthInterval)
		err := p.Ping(ctx)
		cancel()
		if ok := err == nil; ok != healthy {
			healthy = ok
			if ok {
				inst.log.Info("rendezvous: store reachable again; SERVING")
				inst.setHealth(healthpb.HealthCheckResponse_SERVING)
			} else {
				inst.log.Warn("rendezvous: store unreachable; NOT_SERVING", "err", err)
				inst.setHealth(healthpb.HealthCheckResponse_NOT_SERVING)
			}
		}
	}
}
