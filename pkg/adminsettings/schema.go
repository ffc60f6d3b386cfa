package adminsettings

import (
	"encoding/json"
	"reflect"
	"strings"
)

// SchemaFile is the JSON Schema's file name beside this package (kept equal
// to Schema by a test) and what `hardenvm config schema` prints.
const SchemaFile = "admin-settings.schema.json"

// descriptions annotate the schema for editors, by key path.
var descriptions = map[string]string{
	"":                           "hardenvm admin settings: the Docker Desktop admin-settings.json subset a hardenvm VM understands. Every setting is locked: the config partition is read-only and signed.",
	"configurationFileVersion":   "Must be 2.",
	"enhancedContainerIsolation": "The hardened runtime. value must be true.",
	"enhancedContainerIsolation.dockerSocketMount.imageList.images":     "Images that may mount the engine socket: name, name:tag, name:*, name@sha256:…, or *.",
	"enhancedContainerIsolation.dockerSocketMount.commandList.type":     "allow or deny.",
	"enhancedContainerIsolation.dockerSocketMount.commandList.commands": "Engine commands, e.g. push, image*, container*.",
	"exposeDockerAPIOnTCP2375":                                          "Plain-text TCP 2375: value must be false. Use a tcp:// host with tlsverify instead.",
	"registryAllowList":                                                 "hardenvm extension: registries (host or host:port) images may be pulled from; absent allows every registry.",
	"blockDockerLoad":                                                   "value true refuses docker load and docker import, so images come only from registries.",
	"proxy.mode":                                                        "system (no proxy in the VM) or manual.",
	"filesharingAllowedDirectories":                                     "Host directories (and everything under them) that hardenvm run --share may share with the VM: an absolute path, or one starting with $HOME, $TMP or $TEMP (the host's home and temporary directories). Absent allows any directory.",
	"filesharingAllowedDirectories[].sharedByDefault":                   "Accepted for Docker Desktop compatibility: hardenvm run shares only what --share names.",
	"nestingWithoutPrivileged":                                          "hardenvm extension: value true lets containers without --privileged run Docker-in-Docker and systemd, as Sysbox and ECI allow: every capability inside the container's own user namespace, the confined seccomp profile instead of the engine's, its delegated cgroup and its /proc/sys writable. Host devices, masked paths, the exclusive ID range and the rest of the policy stay. Off by default.",
	"benchmarkPlainRuntime":                                             "hardenvm extension, FOR BENCHMARKS ONLY, never in a product config: value true adds the engine runtime runc-plain (docker run --runtime runc-plain), the real runc with none of the hardened runtime's isolation (no user namespace: the VM's root inside), so that a benchmark compares both in one VM. Off by default.",
	"linuxVM.dockerDaemonOptions.value":                                 "Engine options, a daemon.json subset (an object, or a string holding one).",
	"linuxVM.dockerDaemonOptions.value.hosts":                           "unix:///run/docker.sock and tcp://ADDR:PORT (not 2375, needs tlsverify).",
	"linuxVM.dockerDaemonOptions.value.default-runtime":                 "Only hardenvm.",
	"linuxVM.dockerDaemonOptions.value.runtimes":                        "Must be empty: the image defines the only runtime.",
	"linuxVM.dockerDaemonOptions.value.authorization-plugins":           "Must include hardenvm.",
	"linuxVM.dockerDaemonOptions.value.userns-remap":                    "Not allowed: the hardened runtime maps every container itself.",
	"linuxVM.dockerDaemonOptions.value.insecure-registries":             "Each must also be on registryAllowList.",
}

// Schema returns the JSON Schema (draft 2020-12) of the settings, derived
// from the Go types so that it accepts exactly the keys Parse accepts.
func Schema() []byte {
	s := schemaOf(reflect.TypeFor[Settings](), "")
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["title"] = "hardenvm admin-settings.json"
	s["required"] = []string{"configurationFileVersion"}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		panic("BUG: adminsettings: schema: " + err.Error())
	}
	return append(b, '\n')
}

func schemaOf(t reflect.Type, path string) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var s map[string]any
	switch t.Kind() {
	case reflect.Struct:
		props := map[string]any{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			props[name] = schemaOf(f.Type, join(path, name))
		}
		s = map[string]any{"type": "object", "properties": props, "additionalProperties": false}
		if t == daemonOptionsType {
			s = map[string]any{"oneOf": []any{s, map[string]any{"type": "string",
				"description": "Docker Desktop's form: the options as a JSON string"}}}
		}
	case reflect.Map:
		s = map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), join(path, "*"))}
	case reflect.Slice:
		s = map[string]any{"type": "array", "items": schemaOf(t.Elem(), path+"[]")}
	case reflect.String:
		s = map[string]any{"type": "string"}
	case reflect.Bool:
		s = map[string]any{"type": "boolean"}
	case reflect.Int:
		s = map[string]any{"type": "integer"}
	}
	switch path {
	case "configurationFileVersion":
		s["const"] = Version
	case "enhancedContainerIsolation.value":
		s["const"] = true
	case "exposeDockerAPIOnTCP2375.value":
		s["const"] = false
	case "enhancedContainerIsolation.dockerSocketMount.commandList.type":
		s["enum"] = []string{"allow", "deny"}
	case "proxy.mode":
		s["enum"] = []string{"system", "manual"}
	}
	if d, ok := descriptions[path]; ok {
		s["description"] = d
	}
	return s
}
