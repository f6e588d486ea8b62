// Package deploy holds the deployment files (HAProxy, systemd, Docker Compose, Kubernetes);
// its test checks they agree with each other and with the server: the node config loads,
// every SWITCHBOARD_ variable they set is a real setting, every file they mount exists and
// HAProxy accepts its config. test/cluster.test.mjs runs node.json and haproxy.cfg for real.
package deploy

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/node"
)

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// loadNode loads node.json as the node does, with env as the environment.
func loadNode(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	cfg, _, err := node.LoadConfig([]string{"-config", "node.json"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("node.json: %v", err)
	}
	return cfg
}

func TestNodeConfig(t *testing.T) {
	cfg := loadNode(t, map[string]string{"SWITCHBOARD_STORE": "postgres://db/switchboard"})
	if !strings.HasPrefix(cfg.Broker, "nats://") || cfg.Addr != "0.0.0.0:8080" || len(cfg.TrustedProxies) == 0 {
		t.Fatalf("node.json is not a cluster node's config: broker %q addr %q proxies %v", cfg.Broker, cfg.Addr, cfg.TrustedProxies)
	}
}

var envName = regexp.MustCompile(`SWITCHBOARD_[A-Z0-9_]+`)

// TestVariablesAreSettings: a misspelt variable in a deploy file would be silently ignored.
func TestVariablesAreSettings(t *testing.T) {
	known := map[string]bool{config.EnvPrefix + "CONFIG": true}
	for _, v := range config.EnvVars(ptr(node.DefaultConfig())) {
		known[v.Name] = true
	}
	for _, f := range []string{"compose.yaml", "kustomization.yaml", "k8s/deployment.yaml", "switchboard.service", "../docs/cluster.md"} {
		for _, name := range envName.FindAllString(read(t, f), -1) {
			if !known[name] {
				t.Errorf("%s sets %s, which is no setting", f, name)
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

type composeFile struct {
	Services map[string]struct {
		Command     []string          `yaml:"command"`
		Volumes     []string          `yaml:"volumes"`
		Environment map[string]string `yaml:"environment"`
		Build       struct {
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
	} `yaml:"services"`
}

func TestCompose(t *testing.T) {
	var c composeFile
	if err := yaml.Unmarshal([]byte(read(t, "compose.yaml")), &c); err != nil {
		t.Fatal(err)
	}
	lb := c.Services["haproxy"]
	if !slices.Contains(lb.Volumes, "./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro") {
		t.Errorf("haproxy does not run deploy/haproxy.cfg: %v", lb.Volumes)
	}
	for i, name := range []string{"n1", "n2", "n3"} {
		n, ok := c.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		if want := name + ":8080"; lb.Environment["SB_NODE"+string(rune('1'+i))] != want {
			t.Errorf("HAProxy's SB_NODE%d is %q, want %q", i+1, lb.Environment["SB_NODE"+string(rune('1'+i))], want)
		}
		if !slices.Equal(n.Command, []string{"-config", "/etc/switchboard/node.json"}) || !slices.Contains(n.Volumes, "./node.json:/etc/switchboard/node.json:ro") {
			t.Errorf("%s does not run deploy/node.json: %v %v", name, n.Command, n.Volumes)
		}
		if _, err := os.Stat(n.Build.Dockerfile[len("deploy/"):]); err != nil {
			t.Errorf("%s builds from %s: %v", name, n.Build.Dockerfile, err)
		}
		env := n.Environment
		env["SWITCHBOARD_API_KEY"] = "k"
		cfg := loadNode(t, env)
		if cfg.Broker != "nats://nats:4222" || !strings.Contains(cfg.Store, "@postgres:5432/") {
			t.Errorf("%s: broker %q store %q do not name the compose services", name, cfg.Broker, cfg.Store)
		}
	}
	if cmd := strings.Join(c.Services["nats"].Command, " "); !strings.Contains(cmd, "-js") || !strings.Contains(cmd, "-sd /data") {
		t.Errorf("NATS runs without JetStream on disk: %s", cmd)
	}
}

type k8sDeployment struct {
	Spec struct {
		Template struct {
			Spec struct {
				Grace      int `yaml:"terminationGracePeriodSeconds"`
				Containers []struct {
					Args           []string `yaml:"args"`
					ReadinessProbe struct {
						HTTPGet struct {
							Path string `yaml:"path"`
						} `yaml:"httpGet"`
					} `yaml:"readinessProbe"`
					Lifecycle struct {
						PreStop *struct {
							Sleep struct {
								Seconds int `yaml:"seconds"`
							} `yaml:"sleep"`
						} `yaml:"preStop"`
					} `yaml:"lifecycle"`
					VolumeMounts []struct {
						MountPath string `yaml:"mountPath"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func TestKubernetes(t *testing.T) {
	var kz struct {
		Resources          []string `yaml:"resources"`
		ConfigMapGenerator []struct {
			Files []string `yaml:"files"`
		} `yaml:"configMapGenerator"`
	}
	if err := yaml.Unmarshal([]byte(read(t, "kustomization.yaml")), &kz); err != nil {
		t.Fatal(err)
	}
	if len(kz.ConfigMapGenerator) != 1 || !slices.Equal(kz.ConfigMapGenerator[0].Files, []string{"node.json"}) {
		t.Errorf("the ConfigMap is not deploy/node.json: %+v", kz.ConfigMapGenerator)
	}
	for _, r := range kz.Resources {
		read(t, r)
	}
	var d k8sDeployment
	if err := yaml.Unmarshal([]byte(read(t, "k8s/deployment.yaml")), &d); err != nil {
		t.Fatal(err)
	}
	spec := d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.Lifecycle.PreStop == nil {
		t.Errorf("readiness %q, preStop %v: want /readyz and a preStop drain", c.ReadinessProbe.HTTPGet.Path, c.Lifecycle.PreStop)
	}
	if !slices.Equal(c.Args, []string{"-config", "/etc/switchboard/node.json"}) || len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/etc/switchboard" {
		t.Errorf("the container does not run the ConfigMap's node.json: %v %+v", c.Args, c.VolumeMounts)
	}
	cfg := loadNode(t, nil)
	need := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds)*time.Second + cfg.DrainDelay.D() + cfg.ShutdownTimeout.D()
	if time.Duration(spec.Grace)*time.Second <= need {
		t.Errorf("terminationGracePeriodSeconds %d does not cover preStop, drain delay and shutdown (%v)", spec.Grace, need)
	}
}

// TestHAProxyConfig: HAProxy itself accepts the config (when it is installed; .ci/run
// installs it).
func TestHAProxyConfig(t *testing.T) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/haproxy"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("CI=true but HAProxy is not installed")
			}
			t.Skip("HAProxy is not installed (apt-get install haproxy)")
		}
	}
	cmd := exec.Command(bin, "-c", "-f", "haproxy.cfg")
	cmd.Env = append(os.Environ(), "SB_LISTEN=127.0.0.1:8080", "SB_NODE1=127.0.0.1:1", "SB_NODE2=127.0.0.1:2", "SB_NODE3=127.0.0.1:3")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
}
