package main

import (
	"fmt"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// edgeRoute is one path of the public edge: what the Ingress may route,
// and to which Service.
type edgeRoute struct {
	path     string
	pathType networkingv1.PathType
	service  string
}

// publicEdge is every route that may be reached from outside the cluster
// (docs/security.md, "The public edge in deployments"): the provider
// webhooks and the member link pages by their exact paths and prefixes,
// and the console's UI and /api/. The paths are the constants the
// services route; services/devstack/deployment holds this table's
// counterpart in ingress.yaml to the code, and the compose gateway to the
// same routes.
var publicEdge = []edgeRoute{
	{"/webhooks/twilio/inbound", networkingv1.PathTypeExact, "delivery"},
	{"/webhooks/twilio/status", networkingv1.PathTypeExact, "delivery"},
	{"/webhooks/sendgrid/events", networkingv1.PathTypeExact, "delivery"},
	{"/webhooks/sendgrid/inbound/", networkingv1.PathTypePrefix, "delivery"},
	{"/unsubscribe", networkingv1.PathTypeExact, "delivery"},
	{"/prefs/", networkingv1.PathTypePrefix, "delivery"},
	{"/rsvp/", networkingv1.PathTypePrefix, "campaigns"},
	{"/sign/", networkingv1.PathTypePrefix, "campaigns"},
	{"/", networkingv1.PathTypeExact, "console"},
	{"/api", networkingv1.PathTypePrefix, "console"},
	{"/static", networkingv1.PathTypePrefix, "console"},
	{"/signin", networkingv1.PathTypeExact, "console"},
	{"/signout", networkingv1.PathTypeExact, "console"},
	{"/account", networkingv1.PathTypePrefix, "console"},
	{"/contacts", networkingv1.PathTypePrefix, "console"},
	{"/campaigns", networkingv1.PathTypePrefix, "console"},
	{"/inbox", networkingv1.PathTypePrefix, "console"},
	{"/optouts", networkingv1.PathTypePrefix, "console"},
	{"/chart", networkingv1.PathTypeExact, "console"},
	{"/settings", networkingv1.PathTypeExact, "console"},
	{"/settings/state-rules", networkingv1.PathTypeExact, "console"},
	{"/settings/reply-deadline", networkingv1.PathTypeExact, "console"},
	{"/admin", networkingv1.PathTypePrefix, "console"},
}

// checkIngresses holds every Ingress to the public edge: only its routes,
// each to a Service and port that exist, over TLS for every host, no
// default backend; all of the edge is routed; and the pods behind each
// backend admit connections from another namespace (the controller's) on
// the port the Service sends them to.
func checkIngresses(ix *index) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	routed := map[edgeRoute]bool{}
	for _, ing := range ix.ingresses {
		name := "Ingress/" + ing.Name
		if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName == "" {
			add("%s: no ingressClassName; say which controller serves the edge", name)
		}
		if ing.Spec.DefaultBackend != nil {
			add("%s: a defaultBackend sends every unknown path somewhere; the edge answers 404", name)
		}
		tlsHosts := map[string]bool{}
		for _, t := range ing.Spec.TLS {
			if t.SecretName == "" {
				add("%s: a tls entry without secretName", name)
			}
			for _, h := range t.Hosts {
				tlsHosts[h] = true
			}
		}
		for _, rule := range ing.Spec.Rules {
			if rule.Host == "" {
				add("%s: a rule without host answers on every name, outside TLS", name)
			} else if !tlsHosts[rule.Host] {
				add("%s: host %s has no TLS (spec.tls hosts and secretName)", name, rule.Host)
			}
			if rule.HTTP == nil {
				continue
			}
			for _, path := range rule.HTTP.Paths {
				pt := networkingv1.PathTypeImplementationSpecific
				if path.PathType != nil {
					pt = *path.PathType
				}
				svc := path.Backend.Service
				if svc == nil {
					add("%s: path %s has no Service backend", name, path.Path)
					continue
				}
				r := edgeRoute{path.Path, pt, svc.Name}
				if !slices.Contains(publicEdge, r) {
					add("%s: %s %s to %s is not on the public edge", name, pt, path.Path, svc.Name)
					continue
				}
				routed[r] = true
				p = append(p, checkBackend(ix, name, ing, path)...)
			}
		}
	}
	if len(ix.ingresses) > 0 {
		for _, r := range publicEdge {
			if !routed[r] {
				add("the public edge route %s %s to %s is in no Ingress", r.pathType, r.path, r.service)
			}
		}
	}
	return p
}

// checkBackend checks an Ingress path's Service and port, and that the
// pods behind it take connections from the controller.
func checkBackend(ix *index, name string, ing *networkingv1.Ingress, path networkingv1.HTTPIngressPath) []string {
	svcRef := path.Backend.Service
	class := ""
	if ing.Spec.IngressClassName != nil {
		class = *ing.Spec.IngressClassName
	}
	for _, s := range ix.services {
		if s.Name != svcRef.Name || s.Namespace != ing.Namespace {
			continue
		}
		for _, sp := range s.Spec.Ports {
			if sp.Name != svcRef.Port.Name && (svcRef.Port.Name != "" || sp.Port != svcRef.Port.Number) {
				continue
			}
			var problems []string
			for _, b := range ix.backends(s, sp.Port) {
				if !ix.admitsController(b.w, b.port, class) {
					problems = append(problems, fmt.Sprintf("%s: path %s goes to %s, whose NetworkPolicies do not admit the %q ingress controller on port %d", name, path.Path, b.w.doc.name(), class, b.port))
				}
			}
			return problems
		}
		return []string{fmt.Sprintf("%s: path %s names port %q/%d, which Service %s does not have", name, path.Path, svcRef.Port.Name, svcRef.Port.Number, s.Name)}
	}
	return []string{fmt.Sprintf("%s: path %s names Service %s, which is not defined", name, path.Path, svcRef.Name)}
}

// admitsController reports whether some policy selecting w lets in the
// ingress controller on the port (or w is not restricted at all). The
// controller is a peer chosen by namespace whose selectors name the
// Ingress's class: ingress-nginx for class nginx. Another peer from
// another namespace (Prometheus) does not count.
func (ix *index) admitsController(w workload, port int32, class string) bool {
	governed := false
	for _, np := range ix.policies {
		if np.Namespace != w.namespace || !matches(np.Spec.PodSelector, w.template.Labels) || !governs(np, networkingv1.PolicyTypeIngress) {
			continue
		}
		governed = true
		for _, r := range np.Spec.Ingress {
			if !portMatches(r.Ports, w.endpoint(), port, "TCP") {
				continue
			}
			if len(r.From) == 0 || slices.ContainsFunc(r.From, func(peer networkingv1.NetworkPolicyPeer) bool { return isController(peer, class) }) {
				return true
			}
		}
	}
	return !governed
}

func isController(peer networkingv1.NetworkPolicyPeer, class string) bool {
	if peer.NamespaceSelector == nil || class == "" {
		return false
	}
	for _, sel := range []*metav1.LabelSelector{peer.NamespaceSelector, peer.PodSelector} {
		if sel == nil {
			continue
		}
		for _, v := range sel.MatchLabels {
			if strings.Contains(v, class) {
				return true
			}
		}
	}
	return false
}
