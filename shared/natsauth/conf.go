package natsauth

import (
	"fmt"
	"strconv"
	"strings"
)

// KeyVariable is the environment variable a deployed nats-server reads a
// user's public nkey from: NATS_CONTACTS_NKEY for contacts.
func KeyVariable(user string) string { return "NATS_" + strings.ToUpper(user) + "_NKEY" }

// Conf renders the table as a nats-server authorization block, each
// user's public key read from its KeyVariable. No user is anonymous and
// there is no no_auth_user, so a client without a key is refused.
// deployments/nats/auth.conf and the auth.conf key of
// deployments/k8s/nats.yaml hold its output (TestDeployedConf).
func Conf() string {
	var b strings.Builder
	b.WriteString("# Generated from shared/natsauth (Users): edit the table there, then\n")
	b.WriteString("#   cd shared && go test ./natsauth -run TestDeployedConf -update\n")
	b.WriteString("# Each user's public nkey comes from the environment; the server refuses\n")
	b.WriteString("# to start when one is missing, and refuses any client without a key.\n")
	b.WriteString("authorization {\n  users = [\n")
	for _, u := range Users() {
		p := u.Permissions()
		fmt.Fprintf(&b, "    # %s\n    {\n      nkey: $%s\n      permissions: {\n", u.Name, KeyVariable(u.Name))
		fmt.Fprintf(&b, "        publish: { allow: %s }\n", list(p.Publish))
		fmt.Fprintf(&b, "        subscribe: { allow: %s }\n", list(p.Subscribe))
		if p.Responses {
			b.WriteString("        allow_responses: true\n")
		}
		b.WriteString("      }\n    }\n")
	}
	b.WriteString("  ]\n}\n")
	return b.String()
}

// list writes one subject a line, each quoted: an unquoted $JS... would
// be read as a variable.
func list(subjects []string) string {
	var b strings.Builder
	b.WriteString("[\n")
	for _, s := range subjects {
		b.WriteString("          " + strconv.Quote(s) + "\n")
	}
	b.WriteString("        ]")
	return b.String()
}
