package config

import (
	"fmt"
	"os"
	"path/filepath"
)

// ResolveConfigPath applies wg-quick's argument rules. An argument that is a
// valid interface name means confDir/ARG.conf; anything else is a path. The
// file must exist and its name must be an interface name followed by .conf.
// It returns the path (not resolved through symlinks: the name comes from the
// path as given) and the interface name.
func ResolveConfigPath(arg, confDir string) (path, name string, err error) {
	path = arg
	if IsInterfaceName(arg) {
		path = filepath.Join(confDir, arg+".conf")
	}
	return ResolveConfigFile(path)
}

// ResolveConfigFile is ResolveConfigPath for an argument that is always a
// file path, relative or absolute (wgu's -c FILE): wg0.conf is the file in
// the current directory, even though it is also a valid interface name.
func ResolveConfigFile(path string) (_, name string, err error) {
	if _, err := os.Stat(path); err != nil {
		if os.IsNotExist(err) {
			return "", "", fmt.Errorf("`%s' does not exist: %w", path, err)
		}
		return "", "", fmt.Errorf("`%s': %w", path, err)
	}
	name, ok := interfaceNameFromPath(path)
	if !ok {
		return "", "", fmt.Errorf("%s: %w", path, errConfigFileName)
	}
	return path, name, nil
}

// WorldAccessible reports wg-quick's warning condition: the file, after
// following symlinks, and its directory both grant some access to others
// ((filemode & dirmode & 0007) != 0).
func WorldAccessible(path string) (bool, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return false, fmt.Errorf("checking permissions: %w", err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return false, fmt.Errorf("checking permissions: %w", err)
	}
	di, err := os.Stat(filepath.Dir(real))
	if err != nil {
		return false, fmt.Errorf("checking permissions: %w", err)
	}
	return fi.Mode().Perm()&di.Mode().Perm()&0o007 != 0, nil
}
