package main

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// loadNATSConfig parses a nats-server configuration file with nats-server's
// own parser and option checks, with env set for its $VARIABLES. The
// files it includes and the certificates it names are read from a scratch
// copy (materialize); every user key it reads that env does not set gets a
// throwaway one. It also returns the key variables the files read.
func loadNATSConfig(path string, env map[string]string) (*server.Options, []string, error) {
	scratch, err := os.MkdirTemp("", "nats-conf-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(scratch)
	conf, vars, err := materialize(path, scratch)
	if err != nil {
		return nil, nil, err
	}
	env = maps.Clone(env)
	if env == nil {
		env = map[string]string{}
	}
	for _, v := range vars {
		if _, ok := env[v]; !ok {
			if env[v], err = throwawayKey(); err != nil {
				return nil, nil, err
			}
		}
	}
	for k, v := range env {
		old, had := os.LookupEnv(k)
		if err := os.Setenv(k, v); err != nil {
			return nil, nil, err
		}
		defer func() {
			if had {
				_ = os.Setenv(k, old)
			} else {
				_ = os.Unsetenv(k)
			}
		}()
	}
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		// Name the real files, not their scratch copies.
		msg := strings.ReplaceAll(err.Error(), filepath.Join(scratch, "tls")+"/", natsTLSDir)
		return nil, nil, errors.New(strings.ReplaceAll(msg, scratch, filepath.Dir(path)))
	}
	// NewServer validates the options as a start would, without listening;
	// point the store at a scratch directory so nothing real is touched.
	probe := opts.Clone()
	probe.StoreDir = filepath.Join(scratch, "store")
	probe.NoSigs = true
	s, err := server.NewServer(probe)
	if err != nil {
		return nil, nil, fmt.Errorf("nats-server refuses the options: %w", err)
	}
	s.Shutdown()
	return opts, vars, nil
}

// natsExpect is what a cluster node's options must say; empty fields are
// not checked.
type natsExpect struct {
	routes      []string
	storeDir    string
	clientPort  int
	clusterPort int
	monitorPort int
}

// checkNATSOptions holds a node to the durability settings docs/deploy.md
// describes (JetStream on file storage, fsync on every write, a named
// cluster of three routes) and to checkNATSAuth.
func checkNATSOptions(o *server.Options, want natsExpect) []string {
	p := checkNATSAuth(o)
	if o.ServerName == "" || strings.HasPrefix(o.ServerName, "$") {
		p = append(p, "server_name is not set from the environment")
	}
	if !o.JetStream {
		p = append(p, "jetstream is not enabled")
	}
	switch {
	case o.SyncAlways:
	case o.SyncInterval > 10*time.Minute:
		// nats.conf reads an unquoted 2m as the number 2,000,000 (seconds).
		p = append(p, fmt.Sprintf("jetstream sync_interval is %v: quote durations (\"2m\")", o.SyncInterval))
	default:
		p = append(p, fmt.Sprintf("jetstream sync_interval is %v, not always (docs/deploy.md says why; change this check with it)", o.SyncInterval))
	}
	if o.Cluster.Name == "" || o.Cluster.Port == 0 {
		p = append(p, "no cluster block with a name and a port")
	}
	if len(o.Routes) != 3 {
		p = append(p, fmt.Sprintf("%d cluster routes, want 3 (one per node)", len(o.Routes)))
	}
	if want.routes != nil {
		var got []string
		for _, r := range o.Routes {
			got = append(got, r.String())
		}
		if !slices.Equal(got, want.routes) {
			p = append(p, fmt.Sprintf("routes %v, want %v", got, want.routes))
		}
	}
	if want.storeDir != "" && filepath.Clean(o.StoreDir) != filepath.Clean(want.storeDir) {
		p = append(p, fmt.Sprintf("jetstream store_dir %s is not the data volume %s", o.StoreDir, want.storeDir))
	}
	for _, c := range []struct {
		what      string
		got, want int
	}{{"client port", o.Port, want.clientPort}, {"cluster port", o.Cluster.Port, want.clusterPort}, {"monitoring port", o.HTTPPort, want.monitorPort}} {
		if c.want != 0 && c.got != c.want {
			p = append(p, fmt.Sprintf("%s %d, but the container names %d", c.what, c.got, c.want))
		}
	}
	return p
}

// checkNATSStatefulSet checks a NATS StatefulSet against its headless
// Service, its configuration and the services' NATS settings: every route,
// client URL and replica count must name the pods that exist.
func checkNATSStatefulSet(ix *index, sts *appsv1.StatefulSet) []string {
	name := "StatefulSet/" + sts.Name
	var p []string
	add := func(format string, args ...any) { p = append(p, name+": "+fmt.Sprintf(format, args...)) }
	if len(sts.Spec.Template.Spec.Containers) != 1 {
		add("want one container, the nats-server")
		return p
	}
	c := sts.Spec.Template.Spec.Containers[0]
	replicas := int(deref(sts.Spec.Replicas, 1))
	if replicas != 3 {
		add("%d replicas; streams are declared with 3", replicas)
	}
	var headless *corev1.Service
	for _, s := range ix.services {
		if s.Name == sts.Spec.ServiceName {
			headless = s
		}
	}
	switch {
	case headless == nil:
		add("serviceName %q names no Service", sts.Spec.ServiceName)
	case headless.Spec.ClusterIP != corev1.ClusterIPNone:
		add("Service %s must be headless (clusterIP: None)", headless.Name)
	case !headless.Spec.PublishNotReadyAddresses:
		add("Service %s must publish not-ready addresses, or no node finds its peers before it is ready", headless.Name)
	}
	if len(sts.Spec.VolumeClaimTemplates) == 0 {
		add("no volumeClaimTemplates: JetStream's file store would not survive a pod")
	}
	ports := map[string]int{}
	for _, cp := range c.Ports {
		ports[cp.Name] = int(cp.ContainerPort)
	}
	// The configuration file named on the command line, from a ConfigMap.
	i := slices.Index(c.Command, "--config")
	if i < 0 || i+1 >= len(c.Command) {
		add("command does not name a --config file")
		return p
	}
	confPath := c.Command[i+1]
	var cm *corev1.ConfigMap
	var key, dataDir string
	for _, m := range c.VolumeMounts {
		if strings.HasPrefix(confPath, m.MountPath+"/") {
			for _, v := range sts.Spec.Template.Spec.Volumes {
				if v.Name == m.Name && v.ConfigMap != nil {
					cm, key = ix.configMaps[v.ConfigMap.Name], strings.TrimPrefix(confPath, m.MountPath+"/")
				}
			}
		}
		for _, t := range sts.Spec.VolumeClaimTemplates {
			if t.Name == m.Name {
				dataDir = m.MountPath
			}
		}
	}
	if cm == nil || cm.Data[key] == "" {
		add("%s is not mounted from a ConfigMap key", confPath)
		return p
	}
	dir, err := os.MkdirTemp("", "nats-conf-")
	if err != nil {
		return append(p, err.Error())
	}
	defer os.RemoveAll(dir)
	var routeHosts []string
	for n := range replicas {
		routeHosts = append(routeHosts, fmt.Sprintf("%s-%d.%s", sts.Name, n, sts.Spec.ServiceName))
	}
	// The Secrets the node mounts (its TLS certificate) are written under
	// dir and the configuration pointed there, so nats-server loads them as
	// it would in the pod.
	conf := cm.Data[key]
	for _, m := range c.VolumeMounts {
		for _, v := range sts.Spec.Template.Spec.Volumes {
			if v.Name != m.Name || v.Secret == nil {
				continue
			}
			secret := ix.secrets[v.Secret.SecretName]
			if secret == nil {
				continue // checkWorkload reports it
			}
			// Under the volume's name, not its mount path: loadNATSConfig
			// replaces every natsTLSDir in the configuration with throwaway
			// certificates, and this path must not contain it.
			local := filepath.Join(dir, "volumes", v.Name)
			q, err := materializeSecret(secret, local, routeHosts)
			if err != nil {
				return append(p, fmt.Sprintf("%s: Secret %s: %v", name, secret.Name, err))
			}
			for _, problem := range q {
				add("Secret %s: %s", secret.Name, problem)
			}
			conf = strings.ReplaceAll(conf, strings.TrimSuffix(m.MountPath, "/")+"/", local+"/")
		}
	}
	// Every key of the ConfigMap, so an include beside the file is found.
	for k, v := range cm.Data {
		if k != key {
			if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
				return append(p, err.Error())
			}
		}
	}
	file := filepath.Join(dir, key)
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		return append(p, err.Error())
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name" {
			env[e.Name] = sts.Name + "-0"
		}
		// A user's public nkey from a Secret, when it is one (the dev
		// overlay's); a placeholder gets a throwaway key (loadNATSConfig).
		if r := e.ValueFrom; r != nil && r.SecretKeyRef != nil && nkeyVariable.MatchString("$"+e.Name) {
			if s := ix.secrets[r.SecretKeyRef.Name]; s != nil {
				v := s.StringData[r.SecretKeyRef.Key]
				if v == "" {
					v = string(s.Data[r.SecretKeyRef.Key])
				}
				if nkeys.IsValidPublicUserKey(v) {
					env[e.Name] = v
				}
			}
		}
	}
	opts, vars, err := loadNATSConfig(file, env)
	if err != nil {
		add("ConfigMap %s key %s: %v", cm.Name, key, err)
		return p
	}
	tlsOn := opts.TLSConfig != nil
	for _, q := range checkNATSEnv(c, vars, tlsOn) {
		add("%s", q)
	}
	p = append(p, checkNATSClients(ix, tlsOn)...)
	scheme := "nats"
	if tlsOn {
		scheme = "tls"
	}
	var routes, clients []string
	for _, host := range routeHosts {
		routes = append(routes, fmt.Sprintf("nats://%s:%d", host, ports["cluster"]))
		clients = append(clients, fmt.Sprintf("%s://%s:%d", scheme, host, ports["client"]))
	}
	for _, q := range checkNATSOptions(opts, natsExpect{
		routes: routes, storeDir: dataDir,
		clientPort: ports["client"], clusterPort: ports["cluster"], monitorPort: ports["monitor"],
	}) {
		add("ConfigMap %s key %s: %s", cm.Name, key, q)
	}
	// Every service's NATS_URL lists every node, and its streams have as
	// many replicas as there are nodes.
	want := strings.Join(clients, ",")
	for _, cm := range ix.configMaps {
		for k, v := range cm.Data {
			switch {
			case strings.HasSuffix(k, "_NATS_URL") && v != want:
				p = append(p, fmt.Sprintf("ConfigMap/%s: %s is %q, want every node: %q", cm.Name, k, v, want))
			case strings.HasSuffix(k, "_STREAM_REPLICAS") && v != strconv.Itoa(replicas):
				p = append(p, fmt.Sprintf("ConfigMap/%s: %s is %s, but NATS has %d nodes", cm.Name, k, v, replicas))
			}
		}
	}
	return p
}
