package main

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// checkNetworkPolicies holds the policies to a default-deny namespace with
// explicit allows: each namespace that runs a workload denies everything
// by default; each workload is named by an allow policy and may ask DNS;
// each policy and each same-namespace peer selects pods that exist; and
// every in-cluster address a pod is configured with (NATS, the console's
// service URLs, a database in the namespace), the NATS nodes' routes to
// each other, and the Ingress's backends are allowed at both ends.
func checkNetworkPolicies(ix *index) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	namespaces := map[string]bool{}
	for _, w := range ix.workloads {
		namespaces[w.namespace] = true
	}
	for _, ns := range sortedKeys(namespaces) {
		if !slices.ContainsFunc(ix.policies, func(np *networkingv1.NetworkPolicy) bool { return np.Namespace == ns && isDefaultDeny(np) }) {
			add("namespace %s: no default-deny NetworkPolicy (podSelector {}, policyTypes Ingress and Egress, no rules)", displayNS(ns))
		}
	}
	for _, np := range ix.policies {
		name := "NetworkPolicy/" + np.Name
		if !selectsAll(np.Spec.PodSelector) && len(ix.selected(np)) == 0 {
			add("%s: podSelector %s matches no workload", name, metav1.FormatLabelSelector(&np.Spec.PodSelector))
		}
		for _, peer := range peers(np) {
			if peer.NamespaceSelector == nil && peer.PodSelector != nil && !selectsAll(*peer.PodSelector) &&
				!slices.ContainsFunc(ix.workloads, func(w workload) bool {
					return w.namespace == np.Namespace && matches(*peer.PodSelector, w.template.Labels)
				}) {
				add("%s: peer podSelector %s matches no workload", name, metav1.FormatLabelSelector(peer.PodSelector))
			}
		}
	}
	for _, w := range ix.workloads {
		named := false
		for _, np := range ix.policies {
			if np.Namespace == w.namespace && !selectsAll(np.Spec.PodSelector) && matches(np.Spec.PodSelector, w.template.Labels) {
				named = true
			}
		}
		if !named {
			add("%s: no NetworkPolicy selects its pods by label; default-deny leaves it unreachable and mute", w.doc.name())
		}
		if !ix.egressAllowed(w, endpoint{namespace: "kube-system", labels: map[string]string{"k8s-app": "kube-dns"}}, 53, corev1.ProtocolUDP) {
			add("%s: may not ask DNS (UDP 53 to kube-system)", w.doc.name())
		}
		for _, flow := range ix.configuredFlows(w) {
			if !ix.allowed(w, flow.to, flow.port) {
				add("%s: %s names %s, but the NetworkPolicies do not allow %s to reach it on port %d", w.doc.name(), flow.variable, flow.address, w.doc.name(), flow.port)
			}
		}
	}
	// NATS nodes route to each other.
	for _, s := range ix.sts {
		if !isNATS(s) {
			continue
		}
		for _, w := range ix.workloads {
			if w.doc.obj == s {
				port := containerPort(w.template.Spec, "cluster")
				if port != 0 && !ix.allowed(w, w, port) {
					add("%s: the NetworkPolicies do not let the NATS nodes route to each other (cluster port %d)", w.doc.name(), port)
				}
			}
		}
	}
	return p
}

// isDefaultDeny reports whether a policy selects every pod and allows
// nothing in either direction.
func isDefaultDeny(np *networkingv1.NetworkPolicy) bool {
	types := np.Spec.PolicyTypes
	return selectsAll(np.Spec.PodSelector) &&
		slices.Contains(types, networkingv1.PolicyTypeIngress) && slices.Contains(types, networkingv1.PolicyTypeEgress) &&
		len(np.Spec.Ingress) == 0 && len(np.Spec.Egress) == 0
}

func selectsAll(s metav1.LabelSelector) bool {
	return len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0
}

func matches(s metav1.LabelSelector, l map[string]string) bool {
	sel, err := metav1.LabelSelectorAsSelector(&s)
	return err == nil && sel.Matches(labels.Set(l))
}

func displayNS(ns string) string {
	if ns == "" {
		return "(none set)"
	}
	return ns
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// peers are every peer of a policy's rules, both directions.
func peers(np *networkingv1.NetworkPolicy) []networkingv1.NetworkPolicyPeer {
	var out []networkingv1.NetworkPolicyPeer
	for _, r := range np.Spec.Ingress {
		out = append(out, r.From...)
	}
	for _, r := range np.Spec.Egress {
		out = append(out, r.To...)
	}
	return out
}

// selected are the workloads a policy applies to.
func (ix *index) selected(np *networkingv1.NetworkPolicy) []workload {
	var out []workload
	for _, w := range ix.workloads {
		if w.namespace == np.Namespace && matches(np.Spec.PodSelector, w.template.Labels) {
			out = append(out, w)
		}
	}
	return out
}

// endpoint is a pod as a policy sees it: its namespace and labels, and its
// containers' named ports.
type endpoint struct {
	namespace string
	labels    map[string]string
	spec      corev1.PodSpec
}

func (w workload) endpoint() endpoint {
	return endpoint{namespace: w.namespace, labels: w.template.Labels, spec: w.template.Spec}
}

// peerMatches reports whether a policy's peer names the endpoint. An
// ipBlock never does: policies are meant for addresses outside the
// cluster there, and pods' addresses change.
func (ix *index) peerMatches(policyNS string, peer networkingv1.NetworkPolicyPeer, e endpoint) bool {
	if peer.IPBlock != nil {
		return false
	}
	if peer.NamespaceSelector == nil {
		if e.namespace != policyNS {
			return false
		}
	} else {
		nsLabels := ix.namespaceLabels[e.namespace]
		if nsLabels == nil {
			nsLabels = map[string]string{"kubernetes.io/metadata.name": e.namespace}
		}
		if !matches(*peer.NamespaceSelector, nsLabels) {
			return false
		}
	}
	return peer.PodSelector == nil || matches(*peer.PodSelector, e.labels)
}

// portMatches reports whether a rule's ports allow a port on the
// receiving endpoint; no ports is every port.
func portMatches(ports []networkingv1.NetworkPolicyPort, to endpoint, port int32, proto corev1.Protocol) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		pp := corev1.ProtocolTCP
		if p.Protocol != nil {
			pp = *p.Protocol
		}
		if pp != proto {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.StrVal != "":
			if containerPort(to.spec, p.Port.StrVal) == port {
				return true
			}
		case p.EndPort != nil:
			if port >= p.Port.IntVal && port <= *p.EndPort {
				return true
			}
		case p.Port.IntVal == port:
			return true
		}
	}
	return false
}

func containerPort(spec corev1.PodSpec, name string) int32 {
	for _, c := range spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == name {
				return cp.ContainerPort
			}
		}
	}
	return 0
}

// governs reports whether a policy restricts a direction for the pods it
// selects (policyTypes, or, when unset, Ingress always and Egress when it
// has egress rules).
func governs(np *networkingv1.NetworkPolicy, t networkingv1.PolicyType) bool {
	if len(np.Spec.PolicyTypes) > 0 {
		return slices.Contains(np.Spec.PolicyTypes, t)
	}
	return t == networkingv1.PolicyTypeIngress || len(np.Spec.Egress) > 0
}

// egressAllowed reports whether the policies selecting w let it send to
// the endpoint on the port.
func (ix *index) egressAllowed(w workload, to endpoint, port int32, proto corev1.Protocol) bool {
	governed := false
	for _, np := range ix.policies {
		if np.Namespace != w.namespace || !matches(np.Spec.PodSelector, w.template.Labels) || !governs(np, networkingv1.PolicyTypeEgress) {
			continue
		}
		governed = true
		for _, r := range np.Spec.Egress {
			if !portMatches(r.Ports, to, port, proto) {
				continue
			}
			if len(r.To) == 0 || slices.ContainsFunc(r.To, func(peer networkingv1.NetworkPolicyPeer) bool { return ix.peerMatches(np.Namespace, peer, to) }) {
				return true
			}
		}
	}
	return !governed
}

// ingressAllowed reports whether the policies selecting w let it receive
// from the endpoint on the port.
func (ix *index) ingressAllowed(from endpoint, w workload, port int32) bool {
	governed := false
	for _, np := range ix.policies {
		if np.Namespace != w.namespace || !matches(np.Spec.PodSelector, w.template.Labels) || !governs(np, networkingv1.PolicyTypeIngress) {
			continue
		}
		governed = true
		for _, r := range np.Spec.Ingress {
			if !portMatches(r.Ports, w.endpoint(), port, corev1.ProtocolTCP) {
				continue
			}
			if len(r.From) == 0 || slices.ContainsFunc(r.From, func(peer networkingv1.NetworkPolicyPeer) bool { return ix.peerMatches(np.Namespace, peer, from) }) {
				return true
			}
		}
	}
	return !governed
}

// allowed is a TCP connection from one workload's pods to another's, both
// ends.
func (ix *index) allowed(from, to workload, port int32) bool {
	return ix.egressAllowed(from, to.endpoint(), port, corev1.ProtocolTCP) && ix.ingressAllowed(from.endpoint(), to, port)
}

// flow is an in-cluster address a workload is configured to call.
type flow struct {
	variable, address string
	to                workload
	port              int32
}

// defaultPorts are the ports of the URL schemes Muster is configured with.
var defaultPorts = map[string]string{"http": "80", "https": "443", "nats": "4222", "tls": "4222", "postgres": "5432", "postgresql": "5432", "redis": "6379", "rediss": "6379"}

// configuredFlows are the addresses a workload's containers are given in
// their environment (values, its own prefix of an envFrom ConfigMap,
// Secret keys) that name a Service of its namespace: a URL, or a
// comma-separated list of them.
func (ix *index) configuredFlows(w workload) []flow {
	var out []flow
	for _, c := range w.template.Spec.Containers {
		vars := map[string]string{}
		prefix := strings.ToUpper(c.Name) + "_"
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef == nil {
				continue
			}
			if cm := ix.configMaps[ef.ConfigMapRef.Name]; cm != nil {
				for k, v := range cm.Data {
					if strings.HasPrefix(k, ef.Prefix+prefix) {
						vars[k] = v
					}
				}
			}
		}
		for _, e := range c.Env {
			switch {
			case e.ValueFrom == nil:
				vars[e.Name] = e.Value
			case e.ValueFrom.SecretKeyRef != nil:
				if s := ix.secrets[e.ValueFrom.SecretKeyRef.Name]; s != nil {
					v, ok := s.StringData[e.ValueFrom.SecretKeyRef.Key]
					if !ok {
						v = string(s.Data[e.ValueFrom.SecretKeyRef.Key])
					}
					vars[e.Name] = v
				}
			case e.ValueFrom.ConfigMapKeyRef != nil:
				if cm := ix.configMaps[e.ValueFrom.ConfigMapKeyRef.Name]; cm != nil {
					vars[e.Name] = cm.Data[e.ValueFrom.ConfigMapKeyRef.Key]
				}
			}
		}
		for _, name := range sortedKeys(vars) {
			// A public URL is where others reach this pod, not an
			// address it calls.
			if strings.HasSuffix(name, "_PUBLIC_URL") {
				continue
			}
			for _, raw := range strings.Split(vars[name], ",") {
				u, err := url.Parse(strings.TrimSpace(raw))
				if err != nil || u.Host == "" || defaultPorts[u.Scheme] == "" {
					continue
				}
				svc := ix.serviceFor(w.namespace, u.Hostname())
				if svc == nil {
					continue
				}
				portText := u.Port()
				if portText == "" {
					portText = defaultPorts[u.Scheme]
				}
				port, _ := strconv.Atoi(portText)
				for _, to := range ix.backends(svc, int32(port)) {
					out = append(out, flow{variable: name, address: net.JoinHostPort(u.Hostname(), portText), to: to.w, port: to.port})
				}
			}
		}
	}
	return out
}

// serviceFor finds the Service a host name means inside a namespace:
// "name", "name.ns", "name.ns.svc...", or a headless Service's pod,
// "pod.name...".
func (ix *index) serviceFor(ns, host string) *corev1.Service {
	parts := strings.Split(host, ".")
	for i, l := range parts {
		if i > 1 {
			break
		}
		for _, s := range ix.services {
			if s.Name == l && s.Namespace == ns && (i == 0 || s.Spec.ClusterIP == corev1.ClusterIPNone) {
				return s
			}
		}
	}
	return nil
}

// backend is a workload behind a Service port and the container port it
// lands on.
type backend struct {
	w    workload
	port int32
}

func (ix *index) backends(s *corev1.Service, port int32) []backend {
	var out []backend
	for _, sp := range s.Spec.Ports {
		if sp.Port != port {
			continue
		}
		for _, w := range ix.workloads {
			if w.namespace != s.Namespace || len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(w.template.Labels)) {
				continue
			}
			target := sp.TargetPort.IntVal
			if sp.TargetPort.StrVal != "" {
				target = containerPort(w.template.Spec, sp.TargetPort.StrVal)
			}
			if target == 0 {
				target = sp.Port
			}
			out = append(out, backend{w: w, port: target})
		}
	}
	return out
}
