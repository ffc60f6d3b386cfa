package mountguard

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A container's mountinfo as runc leaves it (trimmed): the rootfs, /proc
// with a /dev/null mask over kcore, a read-only bind of /proc/bus, /dev,
// a tmpfs mask over /sys/firmware, and a volume with a space in its path.
const initial = `600 500 0:50 / / rw,relatime - overlay overlay rw
601 600 0:60 / /proc rw,nosuid,nodev,noexec - proc proc rw
602 601 0:61 /null /proc/kcore rw,nosuid - tmpfs tmpfs rw
603 601 0:60 /bus /proc/bus ro,nosuid,nodev,noexec - proc proc rw
604 600 0:61 / /dev rw,nosuid - tmpfs tmpfs rw
605 600 0:62 / /sys rw,nosuid - sysfs sysfs rw
606 605 0:63 / /sys/firmware ro - tmpfs tmpfs ro
607 600 8:1 /vol\040a /data rw - ext4 /dev/vda1 rw
`

func table(t *testing.T, s string) Table {
	t.Helper()
	tb, err := ParseMountinfo(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestParseMountinfo(t *testing.T) {
	tb := table(t, initial)
	if len(tb.ByID) != 8 {
		t.Fatalf("%d mounts, want 8", len(tb.ByID))
	}
	if m := tb.ByID[607]; m.Root != "/vol a" || m.Point != "/data" || m.FSType != "ext4" || m.Dev != "8:1" {
		t.Errorf("607 = %+v", m)
	}
	if !tb.ByID[603].ReadOnly() || tb.ByID[601].ReadOnly() {
		t.Errorf("ReadOnly: /proc/bus %v, /proc %v; want true, false", tb.ByID[603].ReadOnly(), tb.ByID[601].ReadOnly())
	}
	for _, bad := range []string{"1 2 3\n", "x 1 0:1 / / rw - a b c\n", "1 0 0:1 / / rw a b c\n"} {
		if _, err := ParseMountinfo(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseMountinfo(%q) gave no error", bad)
		}
	}
}

// In a nested mount namespace the same mounts have new IDs; a nested
// runc's own procfs (0:70) carries its own mask.
const nested = `700 650 0:50 / / rw,relatime - overlay overlay rw
701 700 0:60 / /proc rw,nosuid,nodev,noexec - proc proc rw
702 701 0:61 /null /proc/kcore rw,nosuid - tmpfs tmpfs rw
703 701 0:60 /bus /proc/bus ro,nosuid,nodev,noexec - proc proc rw
704 700 0:61 / /dev rw,nosuid - tmpfs tmpfs rw
710 700 0:64 / /tmp rw - tmpfs tmpfs rw
711 710 0:70 / /tmp/p rw - proc proc rw
712 711 0:61 /null /tmp/p/kcore rw - tmpfs tmpfs rw
713 710 0:60 / /tmp/b rw - proc proc rw
714 713 0:61 /null /tmp/b/kcore rw - tmpfs tmpfs rw
`

func TestGuards(t *testing.T) {
	p := Snapshot(table(t, initial))
	in, nest := table(t, initial), table(t, nested)
	tests := []struct {
		name string
		t    Table
		id   int
		want bool
	}{
		{"initial mask", in, 602, true},
		{"initial root", in, 600, true},
		{"initial volume", in, 607, true},
		{"copy of the kcore mask", nest, 702, true},
		{"copy of the read-only /proc/bus", nest, 703, true},
		{"copy of /proc (on the rootfs, hides nothing of procfs)", nest, 701, false},
		{"copy of the root", nest, 700, false},
		{"own tmpfs", nest, 710, false},
		{"own procfs", nest, 711, false},
		{"own mask on its own procfs", nest, 712, false},
		{"mask copy in a recursive bind of /proc", nest, 714, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, got := p.Guards(tt.t, tt.t.ByID[tt.id])
			if got != tt.want {
				t.Errorf("Guards(%d) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

func TestCoversHides(t *testing.T) {
	p := Snapshot(table(t, initial))
	in := table(t, initial)
	for _, tt := range []struct {
		dir  string
		want bool
	}{
		{"/proc", true}, {"/proc/kcore", true}, {"/", true}, {"/sys", true},
		{"/proc/self", false}, {"/tmp", false}, {"/data", false}, {"/dev", false}, {"/pro", false},
	} {
		if _, got := p.Covers(in, tt.dir); got != tt.want {
			t.Errorf("Covers(%s) = %v, want %v", tt.dir, got, tt.want)
		}
	}
	for _, tt := range []struct {
		mnt  int
		dir  string
		want bool
	}{
		{601, "/proc", true}, // a bind of procfs without its masks
		{605, "/sys", true},  // sysfs without the /sys/firmware mask
		{600, "/", false},    // the rootfs's own /proc directory
		{604, "/dev", false}, // nothing masked below
		{601, "/proc/self", false},
	} {
		if _, got := p.Hides(in, tt.mnt, tt.dir); got != tt.want {
			t.Errorf("Hides(%d, %s) = %v, want %v", tt.mnt, tt.dir, got, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		flags uint64
		want  mountKind
	}{
		{unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY, kindRemountRO},
		{unix.MS_REMOUNT | unix.MS_RDONLY, kindRemountRO},
		{unix.MS_REMOUNT | unix.MS_BIND | unix.MS_NOSUID, kindRemountBind},
		{unix.MS_REMOUNT, kindRemountSB},
		{unix.MS_MGC_VAL | unix.MS_REMOUNT, kindRemountSB},
		{unix.MS_BIND | unix.MS_REC, kindBind},
		{unix.MS_PRIVATE | unix.MS_REC, kindPropagation},
		{unix.MS_MOVE, kindMove},
		{unix.MS_NOSUID | unix.MS_NODEV, kindNew},
		{0, kindNew},
	} {
		if got := classify(tt.flags); got != tt.want {
			t.Errorf("classify(%#x) = %v, want %v", tt.flags, got, tt.want)
		}
	}
}

func TestOwnFD(t *testing.T) {
	for _, tt := range []struct {
		p, n string
		ok   bool
	}{
		{"/proc/self/fd/6", "6", true}, {"/proc/thread-self/fd/12", "12", true},
		{"/proc/self/fd/", "", false}, {"/proc/self/fd/6/x", "", false}, {"/proc/1/fd/6", "", false}, {"proc/self/fd/6", "", false},
	} {
		if n, ok := ownFD(tt.p); n != tt.n || ok != tt.ok {
			t.Errorf("ownFD(%q) = %q, %v; want %q, %v", tt.p, n, ok, tt.n, tt.ok)
		}
	}
}

// The container's own namespace after mount --make-rshared / (peer group
// 1 for the root, 2 for /proc), and a nested namespace whose copies are
// their peers (unshare -m keeps them shared under the same user
// namespace), with a tmpfs of the container's own at /mnt/a.
const (
	ownShared = `600 500 0:50 / / rw shared:1 - overlay overlay rw
601 600 0:60 / /proc rw shared:2 - proc proc rw
602 601 0:61 /null /proc/kcore rw shared:3 - tmpfs tmpfs rw
620 600 0:80 / /mnt/a rw shared:4 - tmpfs t rw
`
	nestedShared = `700 650 0:50 / / rw shared:1 - overlay overlay rw
701 700 0:60 / /proc rw shared:2 - proc proc rw
702 701 0:61 /null /proc/kcore rw shared:3 - tmpfs tmpfs rw
720 700 0:80 / /mnt/a rw shared:4 - tmpfs t rw
730 700 0:81 / /mnt/b rw - tmpfs t rw
731 730 0:60 / /mnt/b/p rw shared:2 - proc proc rw
732 731 0:82 / /mnt/b/p/kcore rw - tmpfs t rw
`
)

// An umount in a nested namespace propagates to the mounts at the same
// place under the peers of its parent: taking /proc away (with its tree)
// would take the container's own /proc/kcore mask away; its own tmpfs
// may go. Below lists a mount and its tree.
func TestPropagates(t *testing.T) {
	initialShared := table(t, ownShared)
	p := Snapshot(table(t, strings.Join(strings.Split(ownShared, "\n")[:3], "\n")+"\n"))
	at := p.Spreads(initialShared)
	nest := table(t, nestedShared)
	for _, tt := range []struct {
		name string
		ids  []int
		want bool
	}{
		{"lazy umount of /proc", nest.Below(701), true},
		{"the kcore copy", []int{702}, true},
		{"own tmpfs", []int{720}, false},
		{"a tmpfs of its own on the shared root", []int{730}, false},
		{"a mount at kcore on a peer of /proc (a recursive bind's)", []int{732}, true},
	} {
		if _, got := nest.Propagates(tt.ids, at); got != tt.want {
			t.Errorf("%s: Propagates(%v) = %v, want %v", tt.name, tt.ids, got, tt.want)
		}
	}
	if got := nest.Below(730); len(got) != 3 || got[0] != 730 {
		t.Errorf("Below(730) = %v, want 730 and its two mounts", got)
	}
	if m := nest.ByID[701]; m.Shared != 2 || !m.Has("rw") || m.Has("ro") {
		t.Errorf("701 = %+v, want peer group 2, rw", m)
	}
}
