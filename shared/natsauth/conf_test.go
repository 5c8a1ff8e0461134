package natsauth_test

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/musterhq/muster/shared/natsauth"
	"github.com/musterhq/muster/shared/natsserver"
)

var update = flag.Bool("update", false, "rewrite the deployed authorization blocks from the table")

// The authorization block deployed servers include is the table, and
// nats-server reads it as the same permissions the embedded servers get.
func TestDeployedConf(t *testing.T) {
	root := filepath.Join("..", "..", "deployments")
	want := natsauth.Conf()
	file := filepath.Join(root, "nats", "auth.conf")
	manifest := filepath.Join(root, "k8s", "nats.yaml")
	if *update {
		if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := replaceBlock(manifest, "  auth.conf: |", "    ", want); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s is not the table: go test ./natsauth -run TestDeployedConf -update", file)
	}
	block, err := readBlock(manifest, "  auth.conf: |", "    ")
	if err != nil {
		t.Fatal(err)
	}
	if block != want {
		t.Errorf("%s key auth.conf is not the table: go test ./natsauth -run TestDeployedConf -update", manifest)
	}

	// nats-server parses the rendered block to the permissions Authorize
	// gives embedded servers.
	seeds, err := natsauth.NewSeeds()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := seeds.PublicKeys()
	if err != nil {
		t.Fatal(err)
	}
	for name, key := range keys {
		t.Setenv(natsauth.KeyVariable(name), key)
	}
	conf := filepath.Join(t.TempDir(), "auth.conf")
	if err := os.WriteFile(conf, []byte(want), 0o600); err != nil {
		t.Fatal(err)
	}
	parsed, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	var embedded server.Options
	if err := natsserver.Authorize(&embedded, keys); err != nil {
		t.Fatal(err)
	}
	if len(parsed.Nkeys) != len(embedded.Nkeys) {
		t.Fatalf("conf has %d users, the table %d", len(parsed.Nkeys), len(embedded.Nkeys))
	}
	for i, e := range embedded.Nkeys {
		p := parsed.Nkeys[i]
		if p.Nkey != e.Nkey {
			t.Errorf("user %d: nkey %s, want %s", i, p.Nkey, e.Nkey)
			continue
		}
		if !slices.Equal(p.Permissions.Publish.Allow, e.Permissions.Publish.Allow) ||
			!slices.Equal(p.Permissions.Subscribe.Allow, e.Permissions.Subscribe.Allow) ||
			(p.Permissions.Response == nil) != (e.Permissions.Response == nil) {
			t.Errorf("user %d: conf permissions %+v differ from the table's %+v", i, p.Permissions, e.Permissions)
		}
	}
	if parsed.NoAuthUser != "" {
		t.Errorf("conf lets anonymous clients in as %s", parsed.NoAuthUser)
	}
}

// readBlock returns the YAML block scalar after the line header, with
// indent taken off each of its lines.
func readBlock(path, header, indent string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	lines := strings.Split(string(data), "\n")
	i := slices.Index(lines, header)
	if i < 0 {
		return "", os.ErrNotExist
	}
	var b strings.Builder
	for _, l := range lines[i+1:] {
		if l != "" && !strings.HasPrefix(l, indent) {
			break
		}
		b.WriteString(strings.TrimPrefix(l, indent) + "\n")
	}
	return strings.TrimRight(b.String(), "\n") + "\n", nil
}

// replaceBlock rewrites the block scalar after header with text.
func replaceBlock(path, header, indent, text string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	lines := strings.Split(string(data), "\n")
	i := slices.Index(lines, header)
	if i < 0 {
		return os.ErrNotExist
	}
	end := i + 1
	for end < len(lines) && (lines[end] == "" || strings.HasPrefix(lines[end], indent)) {
		end++
	}
	// Blank lines before the next key belong to it.
	for end > i+1 && lines[end-1] == "" {
		end--
	}
	var block []string
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		if l == "" {
			block = append(block, "")
		} else {
			block = append(block, indent+l)
		}
	}
	out := slices.Concat(lines[:i+1], block, lines[end:])
	return os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o644)
}
