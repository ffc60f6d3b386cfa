package runtime

import "strings"

// Image identifies the image a container runs, as the engine recorded it:
// its content ID and the repository digests it was pulled by. Names alone
// are never trusted: anyone can `docker tag` an image with an allow-listed
// name, but a repository digest is only recorded by a pull from that
// repository.
type Image struct {
	ID          string   // "sha256:…", the image config digest
	RepoDigests []string // "docker.io/library/alpine@sha256:…"
	RepoTags    []string // "docker.io/library/alpine:3.20"
}

// ImageAllowed reports whether img matches an entry of the allow-list.
// Entries:
//   - "*": any image;
//   - "sha256:<id>": the image with that content ID;
//   - "name@sha256:<digest>": pulled by exactly that digest;
//   - "name", "name:*": any image pulled from repository name;
//   - "name:tag": the image tagged name:tag that was also pulled from
//     repository name (a local re-tag of another image does not match).
//
// Names are normalised as Docker does (alpine → docker.io/library/alpine).
func ImageAllowed(list []string, img *Image) bool {
	if img == nil {
		return false
	}
	for _, e := range list {
		if imageEntryMatches(strings.TrimSpace(e), img) {
			return true
		}
	}
	return false
}

func imageEntryMatches(e string, img *Image) bool {
	switch {
	case e == "":
		return false
	case e == "*":
		return true
	case strings.HasPrefix(e, "sha256:"):
		return img.ID != "" && e == img.ID
	}
	if name, dg, ok := strings.Cut(e, "@"); ok {
		want := NormalizeName(name) + "@" + dg
		for _, rd := range img.RepoDigests {
			if n, d, ok := strings.Cut(rd, "@"); ok && NormalizeName(n)+"@"+d == want {
				return true
			}
		}
		return false
	}
	name, tag := splitTag(e)
	repo := NormalizeName(name)
	pulled := false
	for _, rd := range img.RepoDigests {
		if n, _, ok := strings.Cut(rd, "@"); ok && NormalizeName(n) == repo {
			pulled = true
		}
	}
	if !pulled {
		return false
	}
	if tag == "" || tag == "*" {
		return true
	}
	for _, rt := range img.RepoTags {
		n, t := splitTag(rt)
		if NormalizeName(n) == repo && t == tag {
			return true
		}
	}
	return false
}

// splitTag splits "host:port/name:tag" into name and tag (a colon before
// the last slash is a port, not a tag).
func splitTag(s string) (name, tag string) {
	i := strings.LastIndex(s, ":")
	if i < 0 || strings.Contains(s[i:], "/") {
		return s, ""
	}
	return s[:i], s[i+1:]
}

// NormalizeName returns the fully qualified repository name Docker uses:
// "alpine" → "docker.io/library/alpine", "me/app" → "docker.io/me/app",
// "index.docker.io/x" → "docker.io/x"; other registries are kept.
func NormalizeName(name string) string {
	name = strings.ToLower(name)
	first, rest, ok := strings.Cut(name, "/")
	if !ok {
		return "docker.io/library/" + name
	}
	if !strings.ContainsAny(first, ".:") && first != "localhost" {
		return "docker.io/" + name
	}
	if first == "index.docker.io" || first == "registry-1.docker.io" {
		first = "docker.io"
	}
	if first == "docker.io" && !strings.Contains(rest, "/") {
		return "docker.io/library/" + rest
	}
	return first + "/" + rest
}

// RegistryOf returns the registry host of an image reference, as Docker
// resolves it ("alpine" → "docker.io").
func RegistryOf(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	n, _ := splitTag(ref)
	host, _, _ := strings.Cut(NormalizeName(n), "/")
	return host
}
