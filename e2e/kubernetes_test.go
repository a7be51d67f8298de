package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v2"

	"github.com/wgu-project/wgu/tunnel/config"
)

// The Kubernetes example (dist/kubernetes) cannot run here: there is no
// cluster. What can be checked is checked: the file parses, the sidecar's
// security settings, args and probes are exactly what TestContainers runs
// under Podman, the mounts put the config and key where the image and the
// config expect them, and the ConfigMap's wg0.conf is a valid config.

const kubernetesExample = "../dist/kubernetes/wgu-sidecar.yaml"

// The parts of the Kubernetes objects the tests look at.
type k8sObject struct {
	Kind     string                `yaml:"kind"`
	Metadata struct{ Name string } `yaml:"metadata"`
	Data     map[string]string     `yaml:"data"`
	Spec     struct {
		Template struct {
			Spec k8sPodSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sPodSpec struct {
	AutomountServiceAccountToken *bool              `yaml:"automountServiceAccountToken"`
	SecurityContext              k8sSecurityContext `yaml:"securityContext"`
	Containers                   []k8sContainer     `yaml:"containers"`
	Volumes                      []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name        string `yaml:"name"`
			DefaultMode *int   `yaml:"defaultMode"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName  string `yaml:"secretName"`
			DefaultMode *int   `yaml:"defaultMode"`
			Items       []struct{ Key, Path string }
		} `yaml:"secret"`
		EmptyDir *struct{} `yaml:"emptyDir"`
	} `yaml:"volumes"`
}

type k8sSecurityContext struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	RunAsUser                *int  `yaml:"runAsUser"`
	RunAsGroup               *int  `yaml:"runAsGroup"`
	FSGroup                  *int  `yaml:"fsGroup"`
	ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	Capabilities             struct {
		Drop []string `yaml:"drop"`
		Add  []string `yaml:"add"`
	} `yaml:"capabilities"`
	Privileged *bool `yaml:"privileged"`
}

type k8sProbe struct {
	Exec *struct {
		Command []string `yaml:"command"`
	} `yaml:"exec"`
}

type k8sContainer struct {
	Name            string             `yaml:"name"`
	Image           string             `yaml:"image"`
	Command         []string           `yaml:"command"`
	Args            []string           `yaml:"args"`
	SecurityContext k8sSecurityContext `yaml:"securityContext"`
	StartupProbe    *k8sProbe          `yaml:"startupProbe"`
	LivenessProbe   *k8sProbe          `yaml:"livenessProbe"`
	ReadinessProbe  *k8sProbe          `yaml:"readinessProbe"`
	VolumeMounts    []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

// k8sExample is the example, parsed.
type k8sExample struct {
	config  string // the ConfigMap's wg0.conf
	pod     k8sPodSpec
	sidecar k8sContainer
}

func loadKubernetesExample(t testing.TB) *k8sExample {
	t.Helper()
	b, err := os.ReadFile(kubernetesExample)
	if err != nil {
		t.Fatal(err)
	}
	ex := &k8sExample{}
	var sawDeployment bool
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var obj k8sObject
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", kubernetesExample, err)
		}
		switch obj.Kind {
		case "ConfigMap":
			ex.config = obj.Data["wg0.conf"]
		case "Deployment":
			sawDeployment = true
			ex.pod = obj.Spec.Template.Spec
		}
	}
	if ex.config == "" || !sawDeployment {
		t.Fatalf("%s: want a ConfigMap with wg0.conf and a Deployment", kubernetesExample)
	}
	i := slices.IndexFunc(ex.pod.Containers, func(c k8sContainer) bool { return c.Name == "wgu" })
	if i < 0 {
		t.Fatalf("%s: no container named wgu", kubernetesExample)
	}
	ex.sidecar = ex.pod.Containers[i]
	return ex
}

// podmanArgs translates a container's effective security settings (its
// own, else the pod's) into the `podman run` flags they mean.
func (ex *k8sExample) podmanArgs(c k8sContainer) ([]string, error) {
	pick := func(own, pod *int) *int {
		if own != nil {
			return own
		}
		return pod
	}
	sc, pod := c.SecurityContext, ex.pod.SecurityContext
	uid, gid := pick(sc.RunAsUser, pod.RunAsUser), pick(sc.RunAsGroup, pod.RunAsGroup)
	nonRoot := sc.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = pod.RunAsNonRoot
	}
	switch {
	case uid == nil || gid == nil || *uid == 0:
		return nil, fmt.Errorf("%s: runAsUser/runAsGroup must name a non-root uid and gid", c.Name)
	case nonRoot == nil || !*nonRoot:
		return nil, fmt.Errorf("%s: runAsNonRoot is not true", c.Name)
	case sc.Privileged != nil && *sc.Privileged, len(sc.Capabilities.Add) > 0:
		return nil, fmt.Errorf("%s: privileged or added capabilities", c.Name)
	case !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}):
		return nil, fmt.Errorf("%s: capabilities.drop = %v, want [ALL]", c.Name, sc.Capabilities.Drop)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		return nil, fmt.Errorf("%s: readOnlyRootFilesystem is not true", c.Name)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		return nil, fmt.Errorf("%s: allowPrivilegeEscalation is not false", c.Name)
	}
	return []string{"--user", fmt.Sprintf("%d:%d", *uid, *gid), "--cap-drop", "ALL", "--read-only",
		"--security-opt", "no-new-privileges"}, nil
}

// mountOf returns the volume mounted at dir in the sidecar, or "".
func (ex *k8sExample) mountOf(dir string) string {
	for _, m := range ex.sidecar.VolumeMounts {
		if m.MountPath == dir {
			return m.Name
		}
	}
	return ""
}

func TestKubernetesExample(t *testing.T) {
	ex := loadKubernetesExample(t)
	for _, c := range ex.pod.Containers {
		if _, err := ex.podmanArgs(c); err != nil {
			t.Error(err)
		}
	}
	args, err := ex.podmanArgs(ex.sidecar)
	if err == nil && !slices.Equal(args, containerSecurityArgs) {
		t.Errorf("the sidecar's security settings mean %q; TestContainers runs %q", args, containerSecurityArgs)
	}
	if !slices.Equal(ex.sidecar.Args, containerCommand) || len(ex.sidecar.Command) != 0 {
		t.Errorf("the sidecar runs command %q args %q; TestContainers runs the image's wgu with %q", ex.sidecar.Command, ex.sidecar.Args, containerCommand)
	}
	if a := ex.pod.AutomountServiceAccountToken; a == nil || *a {
		t.Errorf("automountServiceAccountToken should be false: the pod needs no API access")
	}
	// Probes: wgu health, which needs no shell.
	for name, p := range map[string]*k8sProbe{"startup": ex.sidecar.StartupProbe, "liveness": ex.sidecar.LivenessProbe, "readiness": ex.sidecar.ReadinessProbe} {
		if p == nil || p.Exec == nil || len(p.Exec.Command) < 2 || p.Exec.Command[0] != "wgu" || p.Exec.Command[1] != "health" {
			t.Errorf("%s probe: want an exec of wgu health, got %+v", name, p)
		}
	}
	if p := ex.sidecar.ReadinessProbe; p != nil && p.Exec != nil && !slices.Contains(p.Exec.Command, "--handshake") {
		t.Errorf("readiness should wait for a handshake (wgu health --handshake)")
	}

	// The config and the key land where the image and the config look.
	for _, v := range ex.pod.Volumes {
		switch {
		case v.ConfigMap != nil:
			if ex.mountOf(path.Dir(containerConfPath)) != v.Name {
				t.Errorf("the ConfigMap volume %q is not mounted at %s", v.Name, path.Dir(containerConfPath))
			}
		case v.Secret != nil:
			if ex.mountOf(path.Dir(containerKeyPath)) != v.Name {
				t.Errorf("the Secret volume %q is not mounted at %s", v.Name, path.Dir(containerKeyPath))
			}
			if len(v.Secret.Items) != 1 || v.Secret.Items[0].Path != path.Base(containerKeyPath) {
				t.Errorf("the Secret volume should present one file, %s", path.Base(containerKeyPath))
			}
			// wg-quick's rule: no access for others. Group access works with fsGroup.
			if m := v.Secret.DefaultMode; m == nil || *m&0o007 != 0 {
				t.Errorf("the key's defaultMode gives others access (or is unset: 0644)")
			}
			if ex.pod.SecurityContext.FSGroup == nil {
				t.Errorf("without fsGroup the uid cannot read a root-owned 0440 key")
			}
		case v.EmptyDir != nil:
			if ex.mountOf("/tmp") != v.Name {
				t.Errorf("the emptyDir %q should be the writable /tmp (the run directory)", v.Name)
			}
		}
	}
	if !strings.Contains(ex.config, "PrivateKeyFile = "+containerKeyPath+"\n") || strings.Contains(ex.config, "PrivateKey =") {
		t.Errorf("the ConfigMap should name the key by file (%s) and hold no key", containerKeyPath)
	}
	// The ConfigMap's config, with its placeholders filled, parses.
	dir := t.TempDir()
	key := filepath.Join(dir, "wg-key")
	priv, pub := newKeyPair(t), newKeyPair(t)
	if err := os.WriteFile(key, []byte(priv.Private+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer(containerKeyPath, key, "<hub.pub>", pub.Public).Replace(ex.config)
	cfg, err := config.ParseConfig("wg0.conf", strings.NewReader(conf))
	if err != nil {
		t.Fatalf("the ConfigMap's wg0.conf: %v", err)
	}
	if len(cfg.Services) == 0 {
		t.Errorf("the ConfigMap's config offers the app no service")
	}
}
