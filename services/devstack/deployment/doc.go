// Package deployment holds the tests that keep the deployment files to the
// trust boundary (docs/security.md, "The public edge in deployments"):
// docker-compose.yml publishes only the gateway and requires every secret,
// and the gateway (deployments/gateway/Caddyfile) and the Kubernetes
// Ingress (deployments/k8s/ingress.yaml) forward only the public routes
// the services declare; and compose and Kubernetes run the NATS minor
// version the tests embed. They read the files as text and YAML, so they need
// no Docker, Caddy or cluster, and run in `make test` and
// `make deploy-check`.
package deployment
