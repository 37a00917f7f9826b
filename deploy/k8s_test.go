package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Ports the rendezvous listens on, as the manifests must declare them.
const (
	grpcPort    = 7000
	stunPort    = 3478
	metricsPort = 9090
)

// strictDecoder decodes the kinds deploy/k8s may hold; an unknown field, a duplicate
// field or a value of the wrong type is an error, as `kubectl apply --validate=strict`.
func strictDecoder(t *testing.T) runtime.Decoder {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatalf("build scheme: %v", err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}

// decodeManifests splits multi-document YAML and strict-decodes every non-empty document.
func decodeManifests(dec runtime.Decoder, data []byte) ([]runtime.Object, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []runtime.Object
	for i := 1; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if isBlank(doc) {
			continue
		}
		obj, _, err := dec.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		objs = append(objs, obj)
	}
}

// isBlank reports whether a YAML document holds only comments and whitespace.
func isBlank(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

// manifests are the decoded objects of every file in k8s/, with the file each came from.
type manifests struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	pdbs        []*policyv1.PodDisruptionBudget
	configMaps  map[string]*corev1.ConfigMap
	all         []runtime.Object
}

func loadManifests(t *testing.T) manifests {
	t.Helper()
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in k8s/ (%v)", err)
	}
	dec := strictDecoder(t)
	m := manifests{
		deployments: map[string]*appsv1.Deployment{},
		services:    map[string]*corev1.Service{},
		configMaps:  map[string]*corev1.ConfigMap{},
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decodeManifests(dec, data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, obj := range objs {
			m.all = append(m.all, obj)
			switch o := obj.(type) {
			case *appsv1.Deployment:
				m.deployments[o.Name] = o
			case *corev1.Service:
				m.services[o.Name] = o
			case *policyv1.PodDisruptionBudget:
				m.pdbs = append(m.pdbs, o)
			case *corev1.ConfigMap:
				m.configMaps[o.Name] = o
			}
		}
	}
	return m
}

func (m manifests) rendezvous(t *testing.T) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	d := m.deployments["kith-rendezvous"]
	if d == nil {
		t.Fatal("k8s/: no Deployment kith-rendezvous")
	}
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == "rendezvous" {
			return d, c
		}
	}
	t.Fatal("Deployment kith-rendezvous: no container named rendezvous")
	return nil, nil
}

func TestManifestsDecodeStrictly(t *testing.T) {
	m := loadManifests(t)
	for _, obj := range m.all {
		acc, err := metaAccessor(obj)
		if err != nil {
			t.Fatal(err)
		}
		if acc.GetNamespace() != "kith" && obj.GetObjectKind().GroupVersionKind().Kind != "Namespace" {
			t.Errorf("%s %s: namespace %q, want kith", obj.GetObjectKind().GroupVersionKind().Kind, acc.GetName(), acc.GetNamespace())
		}
	}
}

func metaAccessor(obj runtime.Object) (metav1.Object, error) {
	o, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", obj)
	}
	return o, nil
}

// TestStrictDecoderRejects proves the decoder the other tests trust can say no.
func TestStrictDecoderRejects(t *testing.T) {
	const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: x
spec:
  selector:
    matchLabels: {app: x}
  template:
    metadata:
      labels: {app: x}
    spec:
      containers:
        - name: x
          image: x:1
`
	tests := []struct {
		name, doc string
	}{
		{"unknown field", strings.Replace(deployment, "  selector:", "  replica: 2\n  selector:", 1)},
		{"mistyped value", strings.Replace(deployment, "  selector:", "  replicas: two\n  selector:", 1)},
		{"unknown probe field", strings.Replace(deployment, "image: x:1", "image: x:1\n          readinessProbe:\n            grpcc: {port: 7000}", 1)},
		{"duplicate field", strings.Replace(deployment, "  name: x", "  name: x\n  name: y", 1)},
		{"bad document after a good one", deployment + "---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: \"grpc\"}]}\n"},
		{"unknown kind", "apiVersion: v1\nkind: Servise\nmetadata: {name: s}\n"},
	}
	dec := strictDecoder(t)
	if _, err := decodeManifests(dec, []byte(deployment)); err != nil {
		t.Fatalf("the valid base document is refused: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if objs, err := decodeManifests(dec, []byte(tt.doc)); err == nil {
				t.Errorf("decoded %d objects without error; want a strict-decoding error", len(objs))
			}
		})
	}
}

func TestRendezvousDeployment(t *testing.T) {
	m := loadManifests(t)
	d, c := m.rendezvous(t)
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("replicas = %v, want at least 2", d.Spec.Replicas)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("selector %s does not match the pod template's labels %v", sel, d.Spec.Template.Labels)
	}
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.GRPC == nil {
			t.Errorf("%s probe: want a native grpc probe (grpc.health.v1), got %+v", name, p)
			continue
		}
		if p.GRPC.Port != grpcPort {
			t.Errorf("%s probe on port %d, want the gRPC port %d", name, p.GRPC.Port, grpcPort)
		}
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
			t.Errorf("no %s request", r)
		}
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok || q.IsZero() {
		t.Error("no memory limit")
	}
	env := envOf(c)
	if e := env["KITH_RENDEZVOUS_TURN_SECRET"]; e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		t.Errorf("KITH_RENDEZVOUS_TURN_SECRET must come from a Secret, got %+v", e)
	}
	if !redisFromConfig(c, m.configMaps) {
		t.Error("no KITH_RENDEZVOUS_REDIS or KITH_RENDEZVOUS_REDIS_CLUSTER from a ConfigMap in k8s/")
	}
	if e := env["KITH_RENDEZVOUS_LISTEN"]; e != nil && e.Value != fmt.Sprintf(":%d", grpcPort) {
		t.Errorf("KITH_RENDEZVOUS_LISTEN = %q, want :%d (the probes and Service use it)", e.Value, grpcPort)
	}
}

func envOf(c *corev1.Container) map[string]*corev1.EnvVar {
	env := map[string]*corev1.EnvVar{}
	for i := range c.Env {
		env[c.Env[i].Name] = &c.Env[i]
	}
	return env
}

// redisFromConfig reports whether the container takes its Redis address from a ConfigMap
// that exists in k8s/ and sets it.
func redisFromConfig(c *corev1.Container, cms map[string]*corev1.ConfigMap) bool {
	keys := []string{"KITH_RENDEZVOUS_REDIS", "KITH_RENDEZVOUS_REDIS_CLUSTER"}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil || cms[from.ConfigMapRef.Name] == nil {
			continue
		}
		for _, k := range keys {
			if cms[from.ConfigMapRef.Name].Data[k] != "" {
				return true
			}
		}
	}
	for _, e := range c.Env {
		if ref := e.ValueFrom; ref != nil && ref.ConfigMapKeyRef != nil && cms[ref.ConfigMapKeyRef.Name] != nil {
			for _, k := range keys {
				if e.Name == k && cms[ref.ConfigMapKeyRef.Name].Data[ref.ConfigMapKeyRef.Key] != "" {
					return true
				}
			}
		}
	}
	return false
}

// TestTURNReachesEachInstance checks the UDP side: TURN allocations are per process, so
// each pod must be reachable on its own address, announce that address as its relay IP,
// and never share a node (and so a host port) with another instance.
func TestTURNReachesEachInstance(t *testing.T) {
	d, c := loadManifests(t).rendezvous(t)
	spec := d.Spec.Template.Spec
	var stun *corev1.ContainerPort
	for i := range c.Ports {
		if p := &c.Ports[i]; p.ContainerPort == stunPort {
			stun = p
		}
	}
	if stun == nil || stun.Protocol != corev1.ProtocolUDP {
		t.Fatalf("container port %d: %+v, want UDP", stunPort, stun)
	}
	if !spec.HostNetwork && stun.HostPort != stunPort {
		t.Errorf("STUN/TURN port %d is neither on the host network nor a hostPort: a Service would spread one peer's TURN packets over several instances", stunPort)
	}
	// The second STUN port (--stun-alt) lets a peer tell a symmetric NAT; its port must
	// reach the instance the same way.
	alt := envOf(c)["KITH_RENDEZVOUS_STUN_ALT"]
	if alt == nil || alt.Value == "" {
		t.Error("no KITH_RENDEZVOUS_STUN_ALT: peers behind a symmetric NAT cannot tell so, and are relayed where the birthday method would punch")
	} else {
		_, port, err := net.SplitHostPort(alt.Value)
		n, perr := strconv.Atoi(port)
		found := false
		for _, p := range c.Ports {
			found = found || (err == nil && perr == nil && p.ContainerPort == int32(n) && p.Protocol == corev1.ProtocolUDP &&
				(spec.HostNetwork || p.HostPort == int32(n)))
		}
		if !found {
			t.Errorf("KITH_RENDEZVOUS_STUN_ALT %q is not a UDP container port reachable on the node", alt.Value)
		}
	}
	if spec.HostNetwork && spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		t.Errorf("hostNetwork with dnsPolicy %q: the Redis Service name would not resolve; want ClusterFirstWithHostNet", spec.DNSPolicy)
	}
	relay := envOf(c)["KITH_RENDEZVOUS_TURN_RELAY_IP"]
	if relay == nil || relay.ValueFrom == nil || relay.ValueFrom.FieldRef == nil ||
		(relay.ValueFrom.FieldRef.FieldPath != "status.hostIP" && relay.ValueFrom.FieldRef.FieldPath != "status.podIP") {
		t.Errorf("KITH_RENDEZVOUS_TURN_RELAY_IP must be the pod's own address from the downward API, got %+v", relay)
	}
	if !antiAffineByHost(spec.Affinity, d.Spec.Template.Labels) {
		t.Error("no required pod anti-affinity on kubernetes.io/hostname over the rendezvous pods: two instances could share a node")
	}
	if s := d.Spec.Strategy.RollingUpdate; s == nil || s.MaxSurge == nil || s.MaxSurge.IntValue() != 0 {
		t.Error("rolling update with surge: a surge pod cannot take the host ports of a node that runs an old pod; want maxSurge 0")
	}
}

func antiAffineByHost(a *corev1.Affinity, podLabels map[string]string) bool {
	if a == nil || a.PodAntiAffinity == nil {
		return false
	}
	for _, term := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
		if err == nil && term.TopologyKey == "kubernetes.io/hostname" && sel.Matches(labels.Set(podLabels)) {
			return true
		}
	}
	return false
}

func TestGRPCServiceAndPDB(t *testing.T) {
	m := loadManifests(t)
	d, c := m.rendezvous(t)
	pods := labels.Set(d.Spec.Template.Labels)
	var grpcSvc bool
	for _, s := range m.services {
		if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(pods) {
			continue
		}
		for _, p := range s.Spec.Ports {
			if p.Protocol == corev1.ProtocolTCP && targetsPort(p, c, grpcPort) {
				grpcSvc = true
			}
		}
	}
	if !grpcSvc {
		t.Errorf("no Service selects the rendezvous pods on TCP port %d", grpcPort)
	}
	var pdb bool
	for _, p := range m.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || !sel.Matches(pods) {
			continue
		}
		pdb = true
		if p.Spec.MinAvailable == nil && p.Spec.MaxUnavailable == nil {
			t.Errorf("PodDisruptionBudget %s sets neither minAvailable nor maxUnavailable", p.Name)
		}
		if p.Spec.MinAvailable != nil && p.Spec.MinAvailable.IntValue() >= int(*d.Spec.Replicas) {
			t.Errorf("PodDisruptionBudget %s: minAvailable %s blocks every voluntary disruption of %d replicas", p.Name, p.Spec.MinAvailable, *d.Spec.Replicas)
		}
	}
	if !pdb {
		t.Error("no PodDisruptionBudget selects the rendezvous pods")
	}
}

// targetsPort reports whether a Service port reaches container port want of c.
func targetsPort(p corev1.ServicePort, c *corev1.Container, want int32) bool {
	if p.TargetPort.StrVal == "" {
		return p.TargetPort.IntVal == want || (p.TargetPort.IntVal == 0 && p.Port == want)
	}
	for _, cp := range c.Ports {
		if cp.Name == p.TargetPort.StrVal {
			return cp.ContainerPort == want
		}
	}
	return false
}

// TestPodsAreLockedDown checks every workload in k8s/, Redis included.
func TestPodsAreLockedDown(t *testing.T) {
	m := loadManifests(t)
	if len(m.deployments) == 0 {
		t.Fatal("no Deployments in k8s/")
	}
	for name, d := range m.deployments {
		spec := d.Spec.Template.Spec
		psc := spec.SecurityContext
		for _, c := range spec.Containers {
			where := name + "/" + c.Name
			if strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image[strings.LastIndex(c.Image, "/")+1:], ":") {
				t.Errorf("%s: image %q, want a pinned tag", where, c.Image)
			}
			sc := c.SecurityContext
			if sc == nil {
				t.Errorf("%s: no securityContext", where)
				continue
			}
			if !isTrue(sc.RunAsNonRoot) && (psc == nil || !isTrue(psc.RunAsNonRoot)) {
				t.Errorf("%s: runAsNonRoot not set", where)
			}
			if uid := runAsUser(psc, sc); uid == nil || *uid == 0 {
				t.Errorf("%s: runAsUser %v, want a non-zero uid", where, uid)
			}
			if !isTrue(sc.ReadOnlyRootFilesystem) {
				t.Errorf("%s: readOnlyRootFilesystem not set", where)
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Errorf("%s: allowPrivilegeEscalation not false", where)
			}
			if sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) != 0 {
				t.Errorf("%s: capabilities %+v, want drop [ALL] and nothing added", where, sc.Capabilities)
			}
			if _, ok := c.Resources.Requests[corev1.ResourceMemory]; !ok {
				t.Errorf("%s: no memory request", where)
			}
		}
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

func runAsUser(pod *corev1.PodSecurityContext, c *corev1.SecurityContext) *int64 {
	if c != nil && c.RunAsUser != nil {
		return c.RunAsUser
	}
	if pod != nil {
		return pod.RunAsUser
	}
	return nil
}
