package hostcfg

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"
)

// OpenTUN creates kernel TUN name the way wireguard-go does and returns its
// descriptor and actual name, for handing to another process (a daemon
// child) that passes it to WithTUNFile. The interface lives as long as a
// descriptor of it stays open.
func OpenTUN(name string) (*os.File, string, error) {
	dev, err := tun.CreateTUN(name, DefaultMTU)
	if err != nil {
		return nil, "", fmt.Errorf("creating TUN %s: %w", name, err)
	}
	native, ok := dev.(interface{ File() *os.File })
	if !ok {
		dev.Close()
		return nil, "", fmt.Errorf("creating TUN %s: the device has no descriptor", name)
	}
	real, err := dev.Name()
	if err != nil {
		dev.Close()
		return nil, "", fmt.Errorf("reading TUN name: %w", err)
	}
	// dev is dropped but not closed: closing it would close the file.
	return native.File(), real, nil
}

// TUNFileFromFD wraps an inherited TUN descriptor (WG_TUN_FD) for
// WithTUNFile, making it non-blocking first, and returns the interface's
// name as the kernel knows it.
func TUNFileFromFD(fd int) (*os.File, string, error) {
	ifr, err := unix.NewIfreq("")
	if err != nil {
		return nil, "", err
	}
	if err := unix.IoctlIfreq(fd, unix.TUNGETIFF, ifr); err != nil {
		return nil, "", fmt.Errorf("descriptor %d is not a TUN: %w", fd, err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, "", fmt.Errorf("descriptor %d: %w", fd, err)
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun"), ifr.Name(), nil
}
