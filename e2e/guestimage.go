package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// The kernel WireGuard peer runs in a qemu guest under software emulation
// (this host's kernel has no wireguard module, and KVM guests hang on the
// machines the project runs on). Its kernel and modules come from Debian's
// linux-image package, downloaded with apt-get into a cache directory and
// unpacked there; the initramfs around them is built here, in Go, from the
// host's busybox-static and wg (with the libraries ldd names).

// GuestCacheEnv names a directory for the downloaded kernel package, its
// unpacked files and the built initramfs. Without it the cache is
// $XDG_CACHE_HOME/wgu-e2e, or /var/cache/wgu-e2e.
const GuestCacheEnv = "WGU_E2E_CACHE"

// guestModules are the modules the guest needs, besides what they depend
// on: the virtio network card, WireGuard, and TUN (for a wgu in the guest).
var guestModules = []string{"virtio_pci", "virtio_net", "wireguard", "tun"}

// guestInit is the guest's /init: it mounts what a shell needs, loads the
// modules (listed in dependency order in /modules/order), announces that
// it is ready and hands the serial console to a shell the test drives.
const guestInit = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin
mkdir -p /proc /sys /dev /tmp /run
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /dev/net /var/run
dmesg -n 1
for m in $(cat /modules/order); do
	insmod /modules/$m || echo "WGU-GUEST-MODULE-FAILED $m"
done
echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad
echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad
stty -echo
export PS1= PS2= WG_COLOR_MODE=never
echo "WGU-GUEST-READY $(cut -d' ' -f1 /proc/uptime)"
exec sh
`

// GuestImage is a bootable kernel and initramfs for the WireGuard guest.
type GuestImage struct {
	Kernel  string // vmlinuz
	Initrd  string // newc cpio archive
	Version string // the kernel's release, e.g. 6.1.0-57-amd64
}

// GuestCacheDir returns the cache directory for guest images.
func GuestCacheDir() string {
	if d := os.Getenv(GuestCacheEnv); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "wgu-e2e")
	}
	return "/var/cache/wgu-e2e"
}

// MissingGuestPrerequisite returns why a kernel WireGuard guest cannot
// run here (no qemu, no busybox-static, no wg), or "".
func MissingGuestPrerequisite() string {
	for _, tool := range []string{"qemu-system-x86_64", "wg", "dpkg-deb", "ldd"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " not found in PATH"
		}
	}
	if _, err := busyboxStatic(); err != nil {
		return err.Error()
	}
	return ""
}

// busyboxStatic finds a statically linked busybox (Debian's
// busybox-static installs it as /bin/busybox).
func busyboxStatic() (string, error) {
	p, err := exec.LookPath("busybox")
	if err != nil {
		return "", errors.New("busybox not found in PATH (install busybox-static)")
	}
	out, err := exec.Command("ldd", p).CombinedOutput()
	if err == nil && !bytes.Contains(out, []byte("not a dynamic executable")) {
		return "", fmt.Errorf("%s is linked dynamically (install busybox-static)", p)
	}
	return p, nil
}

// PrepareGuestImage returns the guest's kernel and initramfs, with the
// host programs extra (and their libraries) in the guest's /usr/bin. The first
// time, it downloads Debian's kernel package into the cache, unpacks it
// into a temporary directory, keeps vmlinuz, builds the initramfs and
// removes the rest (the modules are most of the package's 500 MB).
func PrepareGuestImage(ctx context.Context, extra ...string) (*GuestImage, error) {
	if reason := MissingGuestPrerequisite(); reason != "" {
		return nil, errors.New(reason)
	}
	cache := GuestCacheDir()
	deb, err := kernelPackage(ctx, filepath.Join(cache, "deb"))
	if err != nil {
		return nil, err
	}
	files, key, err := guestHostFiles(extra)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(cache, "guest", strings.TrimSuffix(filepath.Base(deb), ".deb"))
	img := &GuestImage{Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd-"+key+".cpio")}
	version, verr := os.ReadFile(filepath.Join(dir, "version"))
	_, kerr := os.Stat(img.Kernel)
	_, ierr := os.Stat(img.Initrd)
	if verr == nil && kerr == nil && ierr == nil {
		img.Version = strings.TrimSpace(string(version))
		now := time.Now()
		os.Chtimes(img.Initrd, now, now) // in use: see pruneInitrds
		return img, nil
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("guest image cache: %w", err)
	}
	tmp, err := os.MkdirTemp(cache, "unpack-")
	if err != nil {
		return nil, fmt.Errorf("guest image cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, tmp).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("dpkg-deb -x %s: %w: %s", deb, err, bytes.TrimSpace(out))
	}
	kernel, version2, mods, err := findKernelFiles(tmp)
	if err != nil {
		return nil, err
	}
	img.Version = version2
	for _, m := range mods {
		base := filepath.Base(m)
		if !strings.HasSuffix(base, ".ko") {
			return nil, fmt.Errorf("%s: compressed modules are not supported", m)
		}
		files = append(files, initrdFile{name: "modules/" + base, src: m, mode: 0o644})
	}
	files = append(files, initrdFile{name: "modules/order", data: []byte(moduleOrder(mods)), mode: 0o644})
	kdata, err := os.ReadFile(kernel)
	if err != nil {
		return nil, fmt.Errorf("guest kernel: %w", err)
	}
	if err := writeAtomic(img.Kernel, kdata); err != nil {
		return nil, err
	}
	if err := writeInitrd(img.Initrd, files); err != nil {
		return nil, err
	}
	pruneInitrds(dir, img.Initrd)
	if err := writeAtomic(filepath.Join(dir, "version"), []byte(version2+"\n")); err != nil {
		return nil, err
	}
	return img, nil
}

// pruneInitrds removes the initramfs images of other inputs (an older wgu
// or busybox) that nobody used for a day; each bench run's wgu makes one.
func pruneInitrds(dir, keep string) {
	old, _ := filepath.Glob(filepath.Join(dir, "initrd-*.cpio"))
	for _, f := range old {
		if fi, err := os.Stat(f); err == nil && f != keep && time.Since(fi.ModTime()) > 24*time.Hour {
			os.Remove(f)
		}
	}
}

func moduleOrder(mods []string) string {
	var b strings.Builder
	for _, m := range mods {
		b.WriteString(filepath.Base(m) + "\n")
	}
	return b.String()
}

// writeAtomic writes data to file through a temporary file and a rename,
// so a concurrent or interrupted run never sees half a file.
func writeAtomic(file string, data []byte) error {
	tmp := fmt.Sprintf("%s.%d.tmp", file, time.Now().UnixNano())
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("guest image: %w", err)
	}
	if err := os.Rename(tmp, file); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("guest image: %w", err)
	}
	return nil
}

// kernelPackage returns the cached linux-image .deb, downloading the one
// linux-image-amd64 depends on when the cache has none.
func kernelPackage(ctx context.Context, dir string) (string, error) {
	if found := cachedDebs(dir); len(found) > 0 {
		return found[len(found)-1], nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("kernel package cache: %w", err)
	}
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", "linux-image-amd64").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("apt-cache depends linux-image-amd64: %w: %s", err, bytes.TrimSpace(out))
	}
	m := regexp.MustCompile(`Depends: (linux-image-[0-9][^\s]*-amd64)\b`).FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("apt-cache depends linux-image-amd64 names no versioned kernel (run apt-get update?): %s", bytes.TrimSpace(out))
	}
	dl := exec.CommandContext(ctx, "apt-get", "download", "-q", string(m[1]))
	dl.Dir = dir
	if out, err := dl.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download %s: %w: %s", m[1], err, bytes.TrimSpace(out))
	}
	found := cachedDebs(dir)
	if len(found) == 0 {
		return "", fmt.Errorf("apt-get download %s left no .deb in %s", m[1], dir)
	}
	return found[len(found)-1], nil
}

func cachedDebs(dir string) []string {
	found, _ := filepath.Glob(filepath.Join(dir, "linux-image-*-amd64_*_amd64.deb"))
	sort.Strings(found)
	return found
}

// findKernelFiles finds vmlinuz in an unpacked kernel package and the
// module files the guest loads, dependencies first. The package ships no
// modules.dep (depmod writes it when the package is installed), so the
// dependencies come from each module's own .modinfo "depends=".
func findKernelFiles(root string) (kernel, version string, modules []string, err error) {
	kernels, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if len(kernels) != 1 {
		return "", "", nil, fmt.Errorf("%s: expected one boot/vmlinuz-*, found %d", root, len(kernels))
	}
	version = strings.TrimPrefix(filepath.Base(kernels[0]), "vmlinuz-")
	modDir := filepath.Join(root, "lib", "modules", version)
	if _, err := os.Stat(modDir); err != nil {
		// Newer packages put modules under /usr/lib.
		modDir = filepath.Join(root, "usr", "lib", "modules", version)
	}
	files := map[string]string{} // module name -> file
	err = filepath.WalkDir(modDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.Contains(d.Name(), ".ko") {
			files[moduleName(p)] = p
		}
		return nil
	})
	if err != nil {
		return "", "", nil, fmt.Errorf("kernel modules: %w", err)
	}
	builtin, _ := os.ReadFile(filepath.Join(modDir, "modules.builtin"))
	var order []string
	seen := map[string]bool{}
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		if seen[name] {
			return nil
		}
		seen[name] = true
		file, ok := files[name]
		if !ok {
			if moduleBuiltin(builtin, name) {
				return nil
			}
			return fmt.Errorf("%s: no module %s (needed by %s) and it is not built in", modDir, name, strings.Join(chain, " <- "))
		}
		deps, err := moduleDepends(file)
		if err != nil {
			return err
		}
		for _, d := range deps {
			if err := visit(d, append([]string{name}, chain...)); err != nil {
				return err
			}
		}
		order = append(order, file)
		return nil
	}
	for _, name := range guestModules {
		if err := visit(name, []string{"the guest"}); err != nil {
			return "", "", nil, err
		}
	}
	return kernels[0], version, order, nil
}

// moduleDepends reads the "depends=" entry of a module's .modinfo section.
func moduleDepends(file string) ([]string, error) {
	f, err := elf.Open(file)
	if err != nil {
		return nil, fmt.Errorf("kernel module: %w", err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("%s: no .modinfo section", file)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: .modinfo: %w", file, err)
	}
	for _, entry := range bytes.Split(data, []byte{0}) {
		if v, ok := bytes.CutPrefix(entry, []byte("depends=")); ok {
			var deps []string
			for _, d := range strings.Split(string(v), ",") {
				if d != "" {
					deps = append(deps, moduleName(d))
				}
			}
			return deps, nil
		}
	}
	return nil, nil
}

// moduleName is a module's name as modprobe spells it: the file name
// without extensions, "-" read as "_".
func moduleName(p string) string {
	base := path.Base(p)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

func moduleBuiltin(builtin []byte, name string) bool {
	for _, line := range strings.Split(string(builtin), "\n") {
		if line != "" && moduleName(line) == name {
			return true
		}
	}
	return false
}

// initrdFile is one file of the initramfs: a host file or data.
type initrdFile struct {
	name string // path in the archive
	src  string // host file, or "" for data
	data []byte
	mode uint32
}

// guestHostFiles lists the initramfs's files that come from this host
// (init, busybox, wg and its libraries, the extra programs) and a key
// naming their contents: a new busybox or wg makes a new initramfs.
func guestHostFiles(extra []string) ([]initrdFile, string, error) {
	busybox, err := busyboxStatic()
	if err != nil {
		return nil, "", err
	}
	wg, err := exec.LookPath("wg")
	if err != nil {
		return nil, "", err
	}
	wg, _ = filepath.EvalSymlinks(wg)
	libs, err := sharedLibraries(wg)
	if err != nil {
		return nil, "", err
	}
	files := []initrdFile{
		{name: "init", data: []byte(guestInit), mode: 0o755},
		{name: "bin/busybox", src: busybox, mode: 0o755},
		{name: "usr/bin/wg", src: wg, mode: 0o755},
	}
	have := map[string]bool{}
	addLibs := func(libs []sharedLib) {
		for _, lib := range libs {
			if name := strings.TrimPrefix(lib.archive, "/"); !have[name] {
				have[name] = true
				files = append(files, initrdFile{name: name, src: lib.host, mode: 0o755})
			}
		}
	}
	addLibs(libs)
	for _, bin := range extra {
		p, err := exec.LookPath(bin)
		if err != nil {
			return nil, "", fmt.Errorf("guest program: %w", err)
		}
		p, _ = filepath.EvalSymlinks(p)
		libs, err := sharedLibraries(p)
		if err != nil {
			return nil, "", err
		}
		files = append(files, initrdFile{name: "usr/bin/" + filepath.Base(bin), src: p, mode: 0o755})
		addLibs(libs)
	}
	h := sha256.New()
	fmt.Fprintln(h, guestModules)
	for _, f := range files {
		fmt.Fprintln(h, f.name, f.mode)
		if f.src != "" {
			data, err := os.ReadFile(f.src)
			if err != nil {
				return nil, "", fmt.Errorf("initramfs: %w", err)
			}
			h.Write(data)
		} else {
			h.Write(f.data)
		}
	}
	return files, hex.EncodeToString(h.Sum(nil))[:16], nil
}

// writeInitrd writes files as a newc cpio archive (uncompressed: the
// emulated guest unpacks it faster than it would decompress it).
func writeInitrd(out string, files []initrdFile) error {
	var buf bytes.Buffer
	w := newCpioWriter(&buf)
	dirs := map[string]bool{"dev": true} // the kernel's console needs /dev/console
	for _, f := range files {
		for d := path.Dir(f.name); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	dirList := make([]string, 0, len(dirs))
	for d := range dirs {
		dirList = append(dirList, d)
	}
	slices.Sort(dirList) // parents sort before their children
	for _, d := range dirList {
		w.dir(d)
	}
	w.charDev("dev/console", 0o600, 5, 1)
	for _, f := range files {
		data := f.data
		if f.src != "" {
			var err error
			if data, err = os.ReadFile(f.src); err != nil {
				return fmt.Errorf("initramfs: %w", err)
			}
		}
		w.file(f.name, f.mode, data)
	}
	if err := w.close(); err != nil {
		return err
	}
	return writeAtomic(out, buf.Bytes())
}

type sharedLib struct{ archive, host string }

// sharedLibraries lists the libraries (and the dynamic loader) that ldd
// says bin needs: where the loader looks for them, and the real file.
func sharedLibraries(bin string) ([]sharedLib, error) {
	out, err := exec.Command("ldd", bin).CombinedOutput()
	if bytes.Contains(out, []byte("not a dynamic executable")) {
		return nil, nil // static: nothing to add
	}
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	var libs []sharedLib
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Fields(line)
		var p string
		switch {
		case len(fields) >= 3 && fields[1] == "=>" && strings.HasPrefix(fields[2], "/"):
			p = fields[2]
		case len(fields) >= 1 && strings.HasPrefix(fields[0], "/"):
			p = fields[0]
		default:
			continue
		}
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			return nil, fmt.Errorf("ldd %s: %w", bin, err)
		}
		libs = append(libs, sharedLib{archive: p, host: real})
	}
	return libs, nil
}

// cpioWriter writes a "newc" cpio archive, the format the kernel unpacks
// as an initramfs.
type cpioWriter struct {
	w   io.Writer
	ino int
	err error
}

func newCpioWriter(w io.Writer) *cpioWriter { return &cpioWriter{w: w, ino: 1} }

func (c *cpioWriter) header(name string, mode uint32, size int, rdevMajor, rdevMinor int) {
	if c.err != nil {
		return
	}
	c.ino++
	nlink := 1
	if mode&0o170000 == 0o040000 {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, nlink, 0, size, 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	c.write([]byte(hdr))
	c.write(append([]byte(name), 0))
	c.pad(len(hdr) + len(name) + 1)
}

func (c *cpioWriter) write(b []byte) {
	if c.err == nil {
		_, c.err = c.w.Write(b)
	}
}

// pad aligns to 4 bytes after n written bytes.
func (c *cpioWriter) pad(n int) {
	if r := n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

func (c *cpioWriter) dir(name string) { c.header(name, 0o040755, 0, 0, 0) }

func (c *cpioWriter) charDev(name string, perm uint32, major, minor int) {
	c.header(name, 0o020000|perm, 0, major, minor)
}

func (c *cpioWriter) file(name string, perm uint32, data []byte) {
	c.header(name, 0o100000|perm, len(data), 0, 0)
	c.write(data)
	c.pad(len(data))
}

func (c *cpioWriter) close() error {
	c.header("TRAILER!!!", 0, 0, 0, 0)
	return c.err
}
