package node_test

import (
	"encoding/json"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/node"
)

var update = flag.Bool("update", false, "rewrite docs/config.md from the code")

// reference is docs/config.md: every setting the file and the environment can give, with its
// default, generated from Config.
func reference() string {
	cfg := node.DefaultConfig()
	var b strings.Builder
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("Generated from the code, `internal/config` and each app's `Config` (`go test ./internal/node -run TestConfigReference -update`);\n")
	b.WriteString("a test fails when it and the code disagree. Each setting is a JSON path of the config file and\n")
	b.WriteString("an environment variable (the rule: `internal/config/env.go`). Namespaces are set in the file only\n")
	b.WriteString("(docs/protocol.md).\n\n")
	b.WriteString("| setting (JSON) | environment | default |\n|---|---|---|\n")
	for _, v := range config.EnvVars(&cfg) {
		def, _ := json.Marshal(v.Value())
		d := string(def)
		if d == `""` || d == "null" || d == "[]" {
			d = "–"
		}
		b.WriteString("| `" + v.Path + "` | `" + v.Name + "` | `" + strings.ReplaceAll(d, "|", `\|`) + "` |\n")
	}
	return b.String()
}

func TestConfigReference(t *testing.T) {
	const path = "../../docs/config.md"
	want := reference()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatal("docs/config.md is out of date: go test ./internal/node -run TestConfigReference -update")
	}
}

// TestREADMEConfigTable: every full setting path and environment variable the README's
// configuration table names exists in the code.
func TestREADMEConfigTable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "## Configuration")
	section, _, _ = strings.Cut(section, "\n## ")
	cfg := node.DefaultConfig()
	paths, names := map[string]bool{}, map[string]bool{}
	for _, v := range config.EnvVars(&cfg) {
		names[v.Name] = true
		for p := v.Path; p != ""; {
			paths[p] = true
			i := strings.LastIndexByte(p, '.')
			if i < 0 {
				break
			}
			p = p[:i]
		}
	}
	paths["namespaces"] = true
	names[config.EnvPrefix+"CONFIG"] = true // the file's path, read by Load
	var rows strings.Builder
	for _, line := range strings.Split(section, "\n") {
		// The first two columns: the JSON setting and its environment variable or flag.
		if cells := strings.Split(line, "|"); len(cells) > 3 {
			rows.WriteString(cells[1] + cells[2] + "\n")
		}
	}
	checked := 0
	for _, m := range regexp.MustCompile("`([A-Za-z0-9_.*]+)`").FindAllStringSubmatch(rows.String(), -1) {
		tok := m[1]
		switch {
		case strings.HasPrefix(tok, config.EnvPrefix):
			checked++
			if !names[tok] {
				t.Errorf("README names %s, which the code does not read", tok)
			}
		case strings.Contains(tok, ".") && !strings.HasPrefix(tok, ".") && !strings.Contains(tok, "*") && regexp.MustCompile(`^[a-z_0-9.]+$`).MatchString(tok):
			checked++
			if !paths[tok] {
				t.Errorf("README names setting %s, which the code does not have", tok)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d settings found in the README's table: has its layout changed?", checked)
	}
}
