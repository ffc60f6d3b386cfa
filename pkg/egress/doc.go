// Package egress is the registry allow-list at the VM's network edge: a
// transparent filter that every outbound TCP connection of the engine, its
// builders and its containers passes (the guest's iptables REDIRECT sends
// them to it; see Rules), which refuses connections to registries that are
// not on the admin's registryAllowList and passes everything else
// unchanged.
//
// Why at the network edge: the authorization plugin sees only the engine
// API, so it can refuse `docker pull` but not a `docker build` whose FROM
// names another registry, an inner engine (Docker-in-Docker) pulling by
// itself, or a container fetching a blob with curl. Docker's Registry
// Access Management works below the API for the same reason (its docs say
// it "operates at the DNS level", in Docker Desktop's network stack, and
// covers every pull of the VM). A DNS filter alone is weak here: a
// container can connect to an address it resolved elsewhere, and
// host.docker.internal (the host, where developers run registries) is one
// name for every port. So the filter decides per connection, from the
// first bytes the client sends:
//
//   - TLS: the ClientHello's server name (SNI); plain HTTP: the Host
//     header; a proxy request (CONNECT, or an absolute URL): its target.
//     A name on the list passes when it resolves to the address the
//     client connected to (so a false SNI or Host cannot borrow a listed
//     name); an IP literal on the list names its own address.
//   - Anything else — a name off the list, a listed name at another
//     address, no name at all — passes unless the destination is a
//     registry: the filter asks it itself (GET /v2/, over TLS and plain
//     HTTP, through the proxy for proxy requests) and a registry is what
//     answers with Docker-Distribution-API-Version or a token-auth 401
//     (the distribution spec's "API Version Check"). Answers are cached.
//     Blob storage a registry redirects to (a CDN, S3) is no registry and
//     passes: unlike RAM, redirect domains need not be listed.
//   - Protocols that are neither (SSH, databases, a server that speaks
//     first) pass untouched: a registry speaks HTTP.
//
// A refusal names the policy where the client shows it: plain HTTP gets a
// 403 whose status line and distribution-style errors body say
// "hardenvm: registry H is not allowed by the admin policy
// (registryAllowList)" (docker pull prints the body, containerd and
// buildkit the status line); TLS gets a certificate whose only name is
// registry-refused-by-admin-policy.registryAllowList.hardenvm.invalid, so
// a verifying client fails with "certificate is valid for …
// registryAllowList …, not H", and one that skips verification (an
// insecure registry) gets the 403 inside TLS.
//
// What a developer could still do, outside the threat model (which is
// "images come only from the admin's registries, for every engine and
// builder in the VM", not data exfiltration): reach a registry through a
// tunnel the filter cannot read (an SSH or VPN connection, a TLS proxy
// that is not an HTTP proxy, HTTP/3 over UDP), through a front that does
// not look like a registry at /v2/, or over a keep-alive connection whose
// later requests name another virtual host of the same server; or carry
// an image in by other means than a registry (docker cp, a bind-mounted
// file, blockDockerLoad aside). Those are the same gaps RAM leaves.
package egress
