package imagebuild

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hardenvm/hardenvm/internal/atomicfile"
	"github.com/hardenvm/hardenvm/pkg/manifest"
)

// The stage cache lets a build whose inputs did not change reuse the
// expensive stages of the last one: the root image with its dm-verity tree
// and the SBOM (kind "root"), and the unsigned UKI with the initramfs it
// carries (kind "uki"). It lives beside the download cache, in
// $XDG_CACHE_HOME/hardenvm/stages/<kind>/<key>/ (~/.cache/hardenvm/stages),
// one directory per entry.
//
// The key of an entry is the sha256 of everything the stage reads: the
// spec and lock files (so every package's digest), the guest binaries,
// the files the spec copies in, the epoch, for the UKI also the admin
// certificate and the command line (which carries the root hash), and
// always the builder's identity, the sha256 of the running executable, so
// any change to hardenvm's code invalidates every entry. Entries are
// written into a temporary directory and renamed into place whole
// (atomicfile.CreateDir), their files synced first, so a killed build or a
// concurrent one never leaves or sees half an entry; two builds that fill
// the same entry write the same bytes and the last rename wins. What is
// cheap or depends on a key's private half reruns every time: signing the
// UKI, the firmware variables, the config partition, the disk, the
// manifest and its signatures. The cached build's output is byte for byte
// the uncached build's (TestStageCacheIdentical).
//
// Deleting the directory is always safe.
type stageCache struct {
	dir string // "" when off: every stage runs
	log *slog.Logger
}

// builderID is the sha256 of the running program, computed once.
var builderID = sync.OnceValues(func() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	f, err := manifest.HashFile(exe)
	return f.SHA256, err
})

// newStageCache is the stage cache in dir, or an off one when disabled
// or when the builder cannot identify itself.
func newStageCache(dir string, off bool, log *slog.Logger) *stageCache {
	if off || dir == "" {
		return &stageCache{log: log}
	}
	if _, err := builderID(); err != nil {
		log.Warn("stage cache off: cannot hash the running program", "err", err)
		return &stageCache{log: log}
	}
	return &stageCache{dir: dir, log: log}
}

// key is the digest of kind, the builder and parts, each length-prefixed
// so that no two lists of parts give the same bytes.
func (c *stageCache) key(kind string, parts ...[]byte) string {
	id, _ := builderID()
	h := sha256.New()
	for _, p := range append([][]byte{[]byte("hardenvm stage cache v1"), []byte(kind), []byte(id)}, parts...) {
		binary.Write(h, binary.LittleEndian, uint64(len(p)))
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// lookup returns the directory of the entry and its metadata, decoded
// into meta, if the entry is there.
func (c *stageCache) lookup(kind, key string, meta any) (string, bool) {
	if c.dir == "" {
		return "", false
	}
	dir := filepath.Join(c.dir, kind, key)
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return "", false
	}
	if err := json.Unmarshal(b, meta); err != nil {
		c.log.Warn("stage cache: unreadable entry, rebuilding it", "dir", dir, "err", err)
		return "", false
	}
	c.log.Debug("stage cache hit", "kind", kind, "key", key)
	now := time.Now()
	os.Chtimes(dir, now, now) // most recently used: kept by evict
	return dir, true
}

// entry is a cache entry being written, or the build's work directory
// when the cache is off.
type entry struct {
	Path string // where the stage writes its files
	kind string
	dir  *atomicfile.Dir
	c    *stageCache
}

// begin starts an entry; with the cache off, or when the entry cannot
// be started (the build then runs as if the cache were off), files go
// into work.
func (c *stageCache) begin(kind, key, work string) *entry {
	if c.dir == "" {
		return &entry{Path: work, c: c}
	}
	err := os.MkdirAll(filepath.Join(c.dir, kind), 0o755)
	var d *atomicfile.Dir
	if err == nil {
		d, err = atomicfile.CreateDir(filepath.Join(c.dir, kind, key), 0o755)
	}
	if err != nil {
		c.log.Warn("stage cache: not storing this build's stage", "kind", kind, "err", err)
		return &entry{Path: work, c: c}
	}
	return &entry{Path: d.Path, kind: kind, dir: d, c: c}
}

// commit writes meta and puts the entry in place. Files the build holds
// open stay valid across the rename. A failure only costs the next build
// its reuse, so it is logged, not returned.
func (e *entry) commit(meta any, files ...*os.File) {
	if e.dir == nil {
		return
	}
	for _, f := range files {
		if err := f.Sync(); err != nil {
			e.c.log.Warn("stage cache: not stored", "err", err)
			e.dir.Abort()
			return
		}
	}
	b, err := json.Marshal(meta)
	if err == nil {
		err = os.WriteFile(filepath.Join(e.Path, "meta.json"), b, 0o644)
	}
	if err == nil {
		err = e.dir.Commit()
	}
	if err != nil {
		e.c.log.Warn("stage cache: not stored", "err", err)
		e.dir.Abort()
		return
	}
	e.c.evict(e.kind)
}

// keepEntries is how many entries of each kind the cache keeps: the
// most recently used. A root entry is as large as the root image, and
// every change to the builder or the inputs makes new keys.
const keepEntries = 3

// evict removes all but the keepEntries most recently used entries of
// kind. A build that still reads a removed entry keeps its open files; one
// that found it but had not opened it yet rebuilds the stage.
func (c *stageCache) evict(kind string) {
	des, err := os.ReadDir(filepath.Join(c.dir, kind))
	if err != nil {
		return
	}
	type aged struct {
		path string
		mod  time.Time
	}
	var entries []aged
	for _, de := range des {
		if !de.IsDir() || strings.HasPrefix(de.Name(), ".") {
			continue // temporary directories belong to running builds
		}
		if fi, err := de.Info(); err == nil {
			entries = append(entries, aged{filepath.Join(c.dir, kind, de.Name()), fi.ModTime()})
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].mod.After(entries[j].mod) })
	for i := keepEntries; i < len(entries); i++ {
		c.log.Debug("stage cache: evicting", "dir", entries[i].path)
		os.RemoveAll(entries[i].path)
	}
}

// abort drops an unfinished entry.
func (e *entry) abort() {
	if e.dir != nil {
		e.dir.Abort()
	}
}

// knownDigest is the digest remembered under key (kind "disk"), if it is
// there and for a file of size bytes.
func knownDigest(c *stageCache, key string, size int64) (manifest.File, bool) {
	var f manifest.File
	if _, ok := c.lookup("disk", key, &f); ok && f.Size == size && len(f.SHA256) == sha256.Size*2 {
		return f, true
	}
	return manifest.File{}, false
}

// rememberDigest stores the digest f under key.
func rememberDigest(c *stageCache, key string, f manifest.File, work string) {
	if c.dir == "" {
		return
	}
	c.begin("disk", key, work).commit(f)
}
