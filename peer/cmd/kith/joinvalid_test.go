package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	localv1 "github.com/kithnet/kith/proto/kith/local/v1"
)

// TestJoinCodeExpired: `kith device add NAME --valid 2s` prints a code that works for
// two seconds; `kith device add` then gives up saying so, a join with the code is
// refused as expired, and the new home is left untouched (`kith init` works there
// afterwards). Bad durations are usage errors, and --help explains the flag.
func TestJoinCodeExpired(t *testing.T) {
	a1, _ := newHome(t, "alice")
	p1 := freePort(t)
	startDaemon(t, a1, p1, "--ui", "")

	for _, bad := range []string{"0s", "-1s", "10m1s", "1h", "soon"} {
		if _, errOut, rc := kithErr(t, a1, "device", "add", "a2", "--valid", bad); rc != 2 || !strings.Contains(errOut, "--valid") {
			t.Errorf("device add --valid %s: exit %d, %s (want a usage error naming --valid)", bad, rc, errOut)
		}
	}
	if out, errOut, _ := kithErr(t, a1, "device", "add", "--help"); !strings.Contains(out+errOut, "--valid DURATION") {
		t.Errorf("device add --help does not explain --valid:\n%s%s", out, errOut)
	}
	// The daemon checks the validity itself (a client other than the CLI).
	cc, err := grpc.NewClient("unix://"+filepath.Join(a1, "kith.sock"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	for _, ms := range []int64{-1, 10*60*1000 + 1, 1 << 62} {
		stream, err := localv1.NewLocalServiceClient(cc).AddDevice(t.Context(), &localv1.AddDeviceRequest{Name: "a2", ValidMs: ms})
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "at most 10 minutes") {
			t.Errorf("AddDevice valid_ms %d: %v, want InvalidArgument", ms, err)
		}
	}

	start := time.Now()
	cmd, stdout, stderr := startDeviceAdd(t, a1, "a2", "--valid", "2s")
	code, err := stdout.ReadString('\n')
	if err != nil {
		t.Fatalf("device add --valid 2s: %v\n%s", err, stderr.String())
	}
	code = strings.TrimSpace(code)
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(stderr.String(), "expired") {
		t.Fatalf("device add with nobody joining: %v, %s (want a failure saying expired)", err, stderr.String())
	}
	if took := time.Since(start); took < 2*time.Second || took > 20*time.Second {
		t.Errorf("device add gave up after %v, want about 2 s", took)
	}

	a2 := filepath.Join(t.TempDir(), "a2")
	if _, errOut, rc := kithErr(t, a2, "init", "--join", code, "--addr", p1); rc != 1 || !strings.Contains(errOut, "expired") {
		t.Fatalf("join with an expired code: exit %d, %s", rc, errOut)
	}
	if ents, err := os.ReadDir(a2); err == nil && len(ents) > 0 {
		names := []string{}
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("a refused join left %v in the new home", names)
	}
	kith(t, a2, "init", "--name", "a2 on its own")
}
