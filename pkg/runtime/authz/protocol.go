// Package authz is hardenvm's engine API policy: a Docker authorization
// plugin (the AuthZ plugin protocol, JSON over HTTP on a unix socket) for
// what only the API sees: which image asks for the engine socket (checked
// by image ID and pulled digests), the admin's commandList, the registry
// allow-list on pull, and plugin installs (always refused). It complements
// the runtime shim, which sees only the OCI config.
//
// Protocol (moby pkg/authorization, docs "Access authorization plugin"):
// POST /Plugin.Activate → {"Implements":["authz"]}; POST
// /AuthZPlugin.AuthZReq and /AuthZPlugin.AuthZRes with a Request, answered
// by a Response. A refusal's Msg reaches the client as "Error response from
// daemon: authorization denied by plugin NAME: MSG".
package authz

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
)

// Request is what dockerd sends for each API call (before it runs, and
// again with the response). RequestBody is present only for JSON bodies
// under 1 MiB.
type Request struct {
	User               string            `json:"User,omitempty"`
	UserAuthNMethod    string            `json:"UserAuthNMethod,omitempty"`
	RequestMethod      string            `json:"RequestMethod,omitempty"`
	RequestURI         string            `json:"RequestUri,omitempty"`
	RequestBody        []byte            `json:"RequestBody,omitempty"`
	RequestHeaders     map[string]string `json:"RequestHeaders,omitempty"`
	ResponseStatusCode int               `json:"ResponseStatusCode,omitempty"`
	ResponseBody       []byte            `json:"ResponseBody,omitempty"`
	ResponseHeaders    map[string]string `json:"ResponseHeaders,omitempty"`
}

// Response is the plugin's answer.
type Response struct {
	Allow bool   `json:"Allow"`
	Msg   string `json:"Msg,omitempty"`
	Err   string `json:"Err,omitempty"`
}

const contentType = "application/vnd.docker.plugins.v1.2+json"

// Handler serves the plugin protocol for p.
func Handler(p *Policy, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", contentType)
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("POST /Plugin.Activate", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string][]string{"Implements": {"authz"}})
	})
	mux.HandleFunc("POST /AuthZPlugin.AuthZReq", func(w http.ResponseWriter, r *http.Request) {
		var req Request
		if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&req); err != nil {
			reply(w, Response{Err: fmt.Sprintf("hardenvm authz: bad request: %v", err)})
			return
		}
		res := p.Decide(&req)
		log.Info("authz", "method", req.RequestMethod, "uri", req.RequestURI, "allow", res.Allow, "msg", res.Msg)
		reply(w, res)
	})
	mux.HandleFunc("POST /AuthZPlugin.AuthZRes", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
		reply(w, Response{Allow: true})
	})
	return mux
}
