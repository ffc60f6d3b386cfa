package verity

import (
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"sort"
	"strings"
)

// algorithms are the hash functions this package builds and checks trees
// with. veritysetup knows more (sha1, blake2, …); sha1 is refused on purpose,
// and the rest are not needed by hardenvm images.
var algorithms = map[string]func() hash.Hash{
	"sha256": sha256.New,
	"sha512": sha512.New,
}

// DefaultAlgorithm is veritysetup's default and what hardenvm images use.
const DefaultAlgorithm = "sha256"

func newHash(name string) (func() hash.Hash, error) {
	if f, ok := algorithms[name]; ok {
		return f, nil
	}
	return nil, fmt.Errorf("%w %q: want one of %s", ErrUnknownAlgorithm, name, strings.Join(Algorithms(), ", "))
}

// Algorithms lists the supported hash algorithm names, sorted.
func Algorithms() []string {
	names := make([]string, 0, len(algorithms))
	for n := range algorithms {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// DigestSize returns the digest length of a supported algorithm.
func DigestSize(algorithm string) (int, error) {
	f, err := newHash(algorithm)
	if err != nil {
		return 0, err
	}
	return f().Size(), nil
}
