// Package configimage builds, signs and verifies the hardenvm config
// partition image: the admin's settings (pkg/adminsettings), the daemon.json and
// runtime settings generated from them, and the engine's TLS server
// material, as an EROFS image with its dm-verity tree and the admin's
// signature over the root hash (layout: pkg/configpart).
//
// The guest init verifies the signature with the admin certificate in the
// initramfs, maps the partition through dm-verity and mounts it read-only
// at adminsettings.ConfigMount. An admin changes the settings by building
// and signing a new image and installing it into an existing image
// directory (pkg/imagedir: Install): the OS partitions, the UKI and its
// signature stay as they are.
package configimage
