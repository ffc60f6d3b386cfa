package debarchive

import "log/slog"

// HostClient is a client as this host's user has it: the mirrors
// FindMirrors picks for flags (the host's apt sources under "/" fill what
// flags and environment leave empty) and the user's download cache
// (DefaultCache). log gets the client's and the cache's messages.
func HostClient(flags Mirrors, log *slog.Logger) (*Client, error) {
	m, err := FindMirrors(flags, "/")
	if err != nil {
		return nil, err
	}
	cache, err := DefaultCache()
	if err != nil {
		return nil, err
	}
	cache.Log = log
	return &Client{Mirrors: m, Cache: cache, Log: log}, nil
}
