// Package debarchive is the Debian archive client of the build: it finds the
// mirrors (main and security archive) in the host's apt sources, verifies
// a suite's InRelease with OpenPGP against the Debian archive keyring,
// reads the Packages indexes whose sha256 the signed InRelease lists,
// resolves dependency closures over one or several suites, and fetches
// .deb files into a content-addressed cache, each checked by sha256.
// It knows nothing of specs and locks: making and updating lock files, and
// turning a lock into the files to fetch, is package lockfile's.
//
// It implements the subset a read-only image needs: clearsigned InRelease
// only (no detached Release.gpg), Packages as .gz, .xz or plain, fetched by
// hash when the archive offers it; one architecture plus "all"; one
// candidate version per package (the highest in the suite); Depends and
// Pre-Depends with alternatives, version constraints and Provides, never
// Recommends. Conflicts and Breaks are not checked (nothing is installed
// with dpkg, and no maintainer script runs), and Essential packages are not
// added implicitly: an image holds exactly the closure of what its spec names.
package debarchive
