// Package adminsettings reads, checks and translates the admin settings of a
// hardenvm VM: the subset of Docker Desktop's admin-settings.json that
// matters for an engine in a locked VM, plus a registry allow-list and
// engine options (a subset of dockerd's daemon.json).
//
// Supported (configurationFileVersion 2):
//
//	enhancedContainerIsolation {value, locked, dockerSocketMount {
//	    imageList {images, allowDerivedImages}, commandList {type, commands}}}
//	exposeDockerAPIOnTCP2375 {value, locked}      must stay false
//	registryAllowList {value, locked}             hardenvm extension: registry hosts
//	blockDockerLoad {value, locked}               refuse docker load and import
//	proxy {locked, mode, http, https, exclude}
//	linuxVM {dockerDaemonOptions {locked, value}} value: an object or, as in
//	                                              Docker Desktop, a string holding one
//	filesharingAllowedDirectories [{path, sharedByDefault}]  path absolute or
//	                                              starting with $HOME, $TMP or $TEMP
//	nestingWithoutPrivileged {value, locked}      hardenvm extension: Docker-in-Docker and
//	                                              systemd without --privileged (off by default)
//	benchmarkPlainRuntime {value, locked}         hardenvm extension, FOR BENCHMARKS ONLY:
//	                                              the runtime runc-plain, plain runc with no
//	                                              isolation (off by default)
//
// Parsing is strict: an unknown key anywhere (also inside the daemon
// options), a key given twice, or a value of the wrong type is an error
// naming the key's path. Validate refuses settings that would let the
// engine be reached on TCP without TLS client verification, or that would
// defeat the hardened runtime (another runtime, dockerd's userns-remap, no
// authorization plugin, insecure registries outside the allow-list); each
// refusal names the key and says why.
//
// The whole config partition is read-only and signed, so every setting is
// locked whatever its "locked" says: the field is accepted for
// compatibility with Docker Desktop files.
//
// The package uses only the standard library: the guest init links it to
// validate the settings again at boot.
package adminsettings
