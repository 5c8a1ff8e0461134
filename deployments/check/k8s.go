package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/kubernetes/scheme"
)

// document is one decoded Kubernetes object and where it came from.
type document struct {
	source string
	obj    runtime.Object
}

// name is how problems refer to the object: Kind/name (source).
func (d document) name() string {
	kind := d.obj.GetObjectKind().GroupVersionKind().Kind
	n, err := nameOf(d.obj)
	if err != nil {
		return kind + " (" + d.source + ")"
	}
	return fmt.Sprintf("%s/%s (%s)", kind, n, d.source)
}

// nameOf is an object's metadata.name.
func nameOf(obj runtime.Object) (string, error) {
	type named interface{ GetName() string }
	n, ok := obj.(named)
	if !ok {
		return "", errors.New("object has no name")
	}
	return n.GetName(), nil
}

// strictDecoder decodes YAML into the built-in types and reports unknown
// and duplicate fields, as `kubectl apply --validate=strict` would.
var strictDecoder = json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
	json.SerializerOptions{Yaml: true, Strict: true})

// typeConverter holds the structured schema of the built-in types (the one
// server-side apply uses).
var typeConverter = applyconfigurations.NewTypeConverter(scheme.Scheme)

// decodeAll splits a YAML stream and decodes each document. A Kustomization
// is skipped: it is kustomize's input, not an object for the cluster.
func decodeAll(source string, data []byte) ([]document, []string) {
	var docs []document
	var problems []string
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 1; ; i++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: document %d: %v", source, i, err))
			break
		}
		if len(bytes.TrimSpace(stripComments(raw))) == 0 {
			continue
		}
		if bytes.Contains(raw, []byte("kind: Kustomization")) {
			continue
		}
		obj, gvk, err := strictDecoder.Decode(raw, nil, nil)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: document %d: %v", source, i, err))
			continue
		}
		obj.GetObjectKind().SetGroupVersionKind(*gvk)
		d := document{source: source, obj: obj}
		if _, err := typeConverter.ObjectToTyped(obj); err != nil {
			problems = append(problems, fmt.Sprintf("%s: schema: %v", d.name(), err))
		}
		docs = append(docs, d)
	}
	return docs, problems
}

// stripComments drops whole-line comments, so a document of comments only
// counts as empty.
func stripComments(b []byte) []byte {
	var out bytes.Buffer
	for line := range bytes.Lines(b) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out.Write(line)
		}
	}
	return out.Bytes()
}

// workload is what the checks need of a Deployment or a StatefulSet.
type workload struct {
	doc       document
	namespace string
	replicas  int32
	selector  map[string]string
	template  corev1.PodTemplateSpec
}

// index is every object of the stream by kind and name.
type index struct {
	workloads  []workload
	services   []*corev1.Service
	pdbs       []*policyv1.PodDisruptionBudget
	configMaps map[string]*corev1.ConfigMap
	secrets    map[string]*corev1.Secret
	sts        []*appsv1.StatefulSet
	names      map[string]document
	policies   []*networkingv1.NetworkPolicy
	ingresses  []*networkingv1.Ingress
	// namespaceLabels are the labels of each Namespace defined here, with
	// the kubernetes.io/metadata.name label the API server adds.
	namespaceLabels map[string]map[string]string
}

func newIndex(docs []document) (*index, []string) {
	ix := &index{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}, names: map[string]document{}, namespaceLabels: map[string]map[string]string{}}
	var problems []string
	for _, d := range docs {
		key := d.obj.GetObjectKind().GroupVersionKind().Kind + "/"
		if n, err := nameOf(d.obj); err == nil {
			key += n
		}
		if prev, dup := ix.names[key]; dup {
			problems = append(problems, fmt.Sprintf("%s: defined again (first in %s)", d.name(), prev.source))
		}
		ix.names[key] = d
		switch o := d.obj.(type) {
		case *appsv1.Deployment:
			ix.workloads = append(ix.workloads, workload{doc: d, namespace: o.Namespace, replicas: deref(o.Spec.Replicas, 1), selector: selectorLabels(o.Spec.Selector.MatchLabels), template: o.Spec.Template})
		case *appsv1.StatefulSet:
			ix.workloads = append(ix.workloads, workload{doc: d, namespace: o.Namespace, replicas: deref(o.Spec.Replicas, 1), selector: selectorLabels(o.Spec.Selector.MatchLabels), template: o.Spec.Template})
			ix.sts = append(ix.sts, o)
		case *corev1.Service:
			ix.services = append(ix.services, o)
		case *policyv1.PodDisruptionBudget:
			ix.pdbs = append(ix.pdbs, o)
		case *corev1.ConfigMap:
			ix.configMaps[o.Name] = o
		case *corev1.Secret:
			ix.secrets[o.Name] = o
		case *corev1.Namespace:
			l := map[string]string{"kubernetes.io/metadata.name": o.Name}
			for k, v := range o.Labels {
				l[k] = v
			}
			ix.namespaceLabels[o.Name] = l
		case *networkingv1.NetworkPolicy:
			ix.policies = append(ix.policies, o)
		case *networkingv1.Ingress:
			ix.ingresses = append(ix.ingresses, o)
		default:
			problems = append(problems, fmt.Sprintf("%s: a kind this project does not use; add checks for it here", d.name()))
		}
	}
	return ix, problems
}

func deref(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

func selectorLabels(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// checkObjects runs every check over one stream of objects.
func checkObjects(docs []document) []string {
	ix, problems := newIndex(docs)
	for _, w := range ix.workloads {
		problems = append(problems, checkWorkload(ix, w)...)
	}
	for _, s := range ix.services {
		problems = append(problems, checkService(ix, s)...)
	}
	for _, p := range ix.pdbs {
		problems = append(problems, checkPDB(ix, p)...)
	}
	for _, s := range ix.sts {
		if isNATS(s) {
			problems = append(problems, checkNATSStatefulSet(ix, s)...)
		}
	}
	problems = append(problems, checkNetworkPolicies(ix)...)
	problems = append(problems, checkIngresses(ix)...)
	return problems
}

// isNATS reports whether a StatefulSet runs nats-server (the official
// image, from any registry).
func isNATS(s *appsv1.StatefulSet) bool {
	for _, c := range s.Spec.Template.Spec.Containers {
		if c.Image == "nats" || strings.HasPrefix(c.Image, "nats:") || strings.Contains(c.Image, "/nats:") {
			return true
		}
	}
	return false
}

// checkWorkload holds every pod to the namespace's "restricted" Pod
// Security Standard and to what Muster's services need to be run well.
func checkWorkload(ix *index, w workload) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, w.doc.name()+": "+fmt.Sprintf(format, args...)) }
	tpl := w.template
	if len(w.selector) == 0 {
		add("selector is empty")
	}
	if !labels.SelectorFromSet(w.selector).Matches(labels.Set(tpl.Labels)) {
		add("selector %v does not match the pod template's labels %v", w.selector, tpl.Labels)
	}
	spec := tpl.Spec
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		add("pod securityContext.runAsNonRoot must be true")
	}
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		add("pod securityContext.runAsUser must be a non-zero uid (the kubelet cannot check a named user)")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		add("pod securityContext.seccompProfile.type must be RuntimeDefault")
	}
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		add("host namespaces are not allowed")
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		add("automountServiceAccountToken must be false: nothing here talks to the Kubernetes API")
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
		if v.HostPath != nil {
			add("volume %s: hostPath is not allowed", v.Name)
		}
		if v.ConfigMap != nil {
			if _, ok := ix.configMaps[v.ConfigMap.Name]; !ok {
				add("volume %s: ConfigMap %s is not defined", v.Name, v.ConfigMap.Name)
			}
		}
		if v.Secret != nil {
			if _, ok := ix.secrets[v.Secret.SecretName]; !ok {
				add("volume %s: Secret %s is not defined", v.Name, v.Secret.SecretName)
			}
		}
	}
	var claims []string
	if o, ok := w.doc.obj.(*appsv1.StatefulSet); ok {
		for _, c := range o.Spec.VolumeClaimTemplates {
			claims = append(claims, c.Name)
		}
	}
	if len(spec.Containers) == 0 {
		add("no containers")
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		p = append(p, checkContainer(ix, w, c, volumes, claims)...)
	}
	return p
}

func checkContainer(ix *index, w workload, c corev1.Container, volumes map[string]corev1.Volume, claims []string) []string {
	var p []string
	add := func(format string, args ...any) {
		p = append(p, fmt.Sprintf("%s: container %s: %s", w.doc.name(), c.Name, fmt.Sprintf(format, args...)))
	}
	if c.Image == "" {
		add("no image")
	}
	sc := c.SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		add("securityContext.allowPrivilegeEscalation must be false")
	}
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		add("securityContext.readOnlyRootFilesystem must be true")
	}
	if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		add("securityContext.capabilities must drop ALL and add none")
	}
	if sc != nil && sc.Privileged != nil && *sc.Privileged {
		add("privileged containers are not allowed")
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			add("resources.requests.%s is not set", r)
		}
		if _, ok := c.Resources.Limits[r]; !ok {
			add("resources.limits.%s is not set", r)
		}
		req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
		if !req.IsZero() && !lim.IsZero() && req.Cmp(lim) > 0 {
			add("resources.requests.%s (%s) is above its limit (%s)", r, req.String(), lim.String())
		}
	}
	ports := map[string]int32{}
	for _, cp := range c.Ports {
		if cp.Name != "" {
			ports[cp.Name] = cp.ContainerPort
		}
	}
	if c.LivenessProbe == nil {
		add("livenessProbe is missing")
	}
	if c.ReadinessProbe == nil {
		add("readinessProbe is missing")
	}
	for _, pr := range []struct {
		what  string
		probe *corev1.Probe
	}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil || pr.probe.HTTPGet.Port.StrVal == "" {
			continue
		}
		if _, ok := ports[pr.probe.HTTPGet.Port.StrVal]; !ok {
			add("%s uses port %q, which the container does not name", pr.what, pr.probe.HTTPGet.Port.StrVal)
		}
	}
	// Muster's services: /healthz is liveness, /readyz readiness (it checks
	// PostgreSQL, NATS and, where used, Redis).
	if w.template.Labels["app.kubernetes.io/component"] == "service" {
		if c.LivenessProbe != nil && (c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz") {
			add("livenessProbe must be GET /healthz")
		}
		if c.ReadinessProbe != nil && (c.ReadinessProbe.HTTPGet == nil || !isReadyz(c.ReadinessProbe.HTTPGet.Path)) {
			add("readinessProbe must be GET /readyz")
		}
	}
	for _, m := range c.VolumeMounts {
		if _, ok := volumes[m.Name]; !ok && !slices.Contains(claims, m.Name) {
			add("volumeMount %s names no volume", m.Name)
		}
	}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil {
			if _, ok := ix.configMaps[ef.ConfigMapRef.Name]; !ok {
				add("envFrom ConfigMap %s is not defined", ef.ConfigMapRef.Name)
			}
		}
		if ef.SecretRef != nil {
			add("envFrom Secret %s hands the container every secret; use secretKeyRef for the keys it needs", ef.SecretRef.Name)
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			continue
		}
		if r := e.ValueFrom.SecretKeyRef; r != nil {
			s, ok := ix.secrets[r.Name]
			if !ok {
				add("env %s: Secret %s is not defined", e.Name, r.Name)
			} else if _, ok := s.StringData[r.Key]; !ok && (r.Optional == nil || !*r.Optional) {
				if _, ok := s.Data[r.Key]; !ok {
					add("env %s: Secret %s has no key %s", e.Name, r.Name, r.Key)
				}
			}
		}
		if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
			cm, ok := ix.configMaps[r.Name]
			if !ok {
				add("env %s: ConfigMap %s is not defined", e.Name, r.Name)
			} else if _, ok := cm.Data[r.Key]; !ok {
				add("env %s: ConfigMap %s has no key %s", e.Name, r.Name, r.Key)
			}
		}
	}
	return p
}

// checkService requires a Service to select pods of some workload and to
// point at ports those pods name.
func checkService(ix *index, s *corev1.Service) []string {
	var p []string
	name := "Service/" + s.Name
	if len(s.Spec.Selector) == 0 {
		return append(p, name+": has no selector")
	}
	var matched []workload
	for _, w := range ix.workloads {
		if labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(w.template.Labels)) {
			matched = append(matched, w)
		}
	}
	if len(matched) == 0 {
		return append(p, fmt.Sprintf("%s: selector %v matches no workload", name, s.Spec.Selector))
	}
	for _, sp := range s.Spec.Ports {
		if sp.TargetPort.StrVal == "" {
			continue
		}
		for _, w := range matched {
			if !namesPort(w.template.Spec, sp.TargetPort.StrVal) {
				p = append(p, fmt.Sprintf("%s: targetPort %q is not a port of %s", name, sp.TargetPort.StrVal, w.doc.name()))
			}
		}
	}
	return p
}

func namesPort(spec corev1.PodSpec, port string) bool {
	for _, c := range spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == port {
				return true
			}
		}
	}
	return false
}

// checkPDB requires a budget to cover some workload and to leave room for
// a node drain: minAvailable below the replica count.
func checkPDB(ix *index, pdb *policyv1.PodDisruptionBudget) []string {
	name := "PodDisruptionBudget/" + pdb.Name
	if pdb.Spec.Selector == nil {
		return []string{name + ": has no selector"}
	}
	var p []string
	found := false
	for _, w := range ix.workloads {
		if !labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(labels.Set(w.template.Labels)) {
			continue
		}
		found = true
		if m := pdb.Spec.MinAvailable; m != nil && m.StrVal == "" && m.IntVal >= w.replicas {
			p = append(p, fmt.Sprintf("%s: minAvailable %d with %d replicas of %s blocks every node drain", name, m.IntVal, w.replicas, w.doc.name()))
		}
	}
	if !found {
		p = append(p, fmt.Sprintf("%s: selector %v matches no workload", name, pdb.Spec.Selector.MatchLabels))
	}
	return p
}

// isReadyz reports whether path is /readyz, with or without a query
// (delivery's probe excludes its sending checks).
func isReadyz(path string) bool {
	p, _, _ := strings.Cut(path, "?")
	return p == "/readyz"
}
