package authz

import (
	"regexp"
	"strings"
)

// A command is how the admin's commandList names an API call: the CLI's
// "group verb" (image push) and its short form (push).
type command struct {
	name, alias string
}

type route struct {
	method string
	path   *regexp.Regexp
	cmd    command
}

// Image names hold slashes; container, volume and network names do not.
const (
	one = `[^/]+`
	img = `.+`
)

func r(method, path, name, alias string) route {
	return route{method, regexp.MustCompile("^" + path + "$"), command{name, alias}}
}

// routes maps engine API endpoints to CLI command names (API v1.41–1.4x).
var routes = []route{
	r("POST", "/containers/create", "container create", "create"),
	r("POST", "/containers/"+one+"/start", "container start", "start"),
	r("POST", "/containers/"+one+"/stop", "container stop", "stop"),
	r("POST", "/containers/"+one+"/restart", "container restart", "restart"),
	r("POST", "/containers/"+one+"/kill", "container kill", "kill"),
	r("POST", "/containers/"+one+"/pause", "container pause", "pause"),
	r("POST", "/containers/"+one+"/unpause", "container unpause", "unpause"),
	r("POST", "/containers/"+one+"/wait", "container wait", "wait"),
	r("POST", "/containers/"+one+"/attach", "container attach", "attach"),
	r("GET", "/containers/"+one+"/attach/ws", "container attach", "attach"),
	r("POST", "/containers/"+one+"/resize", "container attach", "attach"),
	r("POST", "/containers/"+one+"/rename", "container rename", "rename"),
	r("POST", "/containers/"+one+"/update", "container update", "update"),
	r("POST", "/containers/"+one+"/exec", "container exec", "exec"),
	r("POST", "/exec/"+one+"/(start|resize)", "container exec", "exec"),
	r("GET", "/exec/"+one+"/json", "container exec", "exec"),
	r("DELETE", "/containers/"+one, "container rm", "rm"),
	r("GET", "/containers/json", "container ls", "ps"),
	r("GET", "/containers/"+one+"/json", "container inspect", "inspect"),
	r("GET", "/containers/"+one+"/logs", "container logs", "logs"),
	r("GET", "/containers/"+one+"/top", "container top", "top"),
	r("GET", "/containers/"+one+"/stats", "container stats", "stats"),
	r("GET", "/containers/"+one+"/changes", "container diff", "diff"),
	r("GET", "/containers/"+one+"/export", "container export", "export"),
	r("(GET|PUT|HEAD)", "/containers/"+one+"/archive", "container cp", "cp"),
	r("POST", "/containers/prune", "container prune", "prune"),
	r("POST", "/commit", "container commit", "commit"),
	r("POST", "/images/"+img+"/push", "image push", "push"),
	r("POST", "/images/"+img+"/tag", "image tag", "tag"),
	r("GET", "/images/json", "image ls", "images"),
	r("GET", "/images/search", "search", "search"),
	r("GET", "/images/get", "image save", "save"),
	r("GET", "/images/"+img+"/get", "image save", "save"),
	r("GET", "/images/"+img+"/history", "image history", "history"),
	r("GET", "/images/"+img+"/json", "image inspect", "inspect"),
	r("DELETE", "/images/"+img, "image rm", "rmi"),
	r("POST", "/images/load", "image load", "load"),
	r("POST", "/images/prune", "image prune", "prune"),
	r("POST", "/build", "image build", "build"),
	r("POST", "/build/prune", "builder prune", "prune"),
	r("POST", "/build/cancel", "image build", "build"),
	r("POST", "/session", "image build", "build"),
	r("POST", "/grpc", "image build", "build"), // buildx: BuildKit's control API
	r("POST", "/volumes/create", "volume create", "create"),
	r("GET", "/volumes", "volume ls", "ls"),
	r("GET", "/volumes/"+one, "volume inspect", "inspect"),
	r("DELETE", "/volumes/"+one, "volume rm", "rm"),
	r("POST", "/volumes/prune", "volume prune", "prune"),
	r("POST", "/networks/create", "network create", "create"),
	r("GET", "/networks", "network ls", "ls"),
	r("GET", "/networks/"+one, "network inspect", "inspect"),
	r("DELETE", "/networks/"+one, "network rm", "rm"),
	r("POST", "/networks/"+one+"/connect", "network connect", "connect"),
	r("POST", "/networks/"+one+"/disconnect", "network disconnect", "disconnect"),
	r("POST", "/networks/prune", "network prune", "prune"),
	r("GET", "/info", "system info", "info"),
	r("GET", "/events", "system events", "events"),
	r("GET", "/system/df", "system df", "df"),
	r("POST", "/auth", "login", "login"),
	r("GET", "/plugins", "plugin ls", "ls"),
	r("GET", "/plugins/privileges", "plugin install", "install"),
	r("POST", "/plugins/pull", "plugin install", "install"),
	r("POST", "/plugins/create", "plugin create", "create"),
	r("POST", "/plugins/"+img+"/upgrade", "plugin upgrade", "upgrade"),
	r("POST", "/plugins/"+img+"/(enable|disable)", "plugin enable", "enable"),
	r("POST", "/plugins/"+img+"/push", "plugin push", "push"),
	r("POST", "/plugins/"+img+"/set", "plugin set", "set"),
	r("DELETE", "/plugins/"+img, "plugin rm", "rm"),
}

var versionPrefix = regexp.MustCompile(`^/v[0-9]+(\.[0-9]+)?(/|$)`)

// stripVersion removes the API version prefix (/v1.41).
func stripVersion(p string) string {
	if loc := versionPrefix.FindStringIndex(p); loc != nil {
		return "/" + p[loc[1]:]
	}
	return p
}

// commandOf names an API call; ok is false for endpoints not in the table.
func commandOf(method, path string, fromSrc bool) (command, bool) {
	path = strings.TrimSuffix(path, "/")
	if method == "POST" && path == "/images/create" {
		if fromSrc {
			return command{"image import", "import"}, true
		}
		return command{"image pull", "pull"}, true
	}
	for _, rt := range routes {
		if ok, _ := regexp.MatchString("^("+rt.method+")$", method); ok && rt.path.MatchString(path) {
			return rt.cmd, true
		}
	}
	return command{}, false
}

// matches reports whether a commandList entry names c: exactly (by either
// name), or by a trailing-* prefix ("image*", "container*").
func (c command) matches(entry string) bool {
	entry = strings.TrimSpace(entry)
	if p, ok := strings.CutSuffix(entry, "*"); ok {
		return strings.HasPrefix(c.name, p) || strings.HasPrefix(c.alias, p)
	}
	return entry == c.name || entry == c.alias
}
