package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// maxKeyFileSize bounds what is read from a PrivateKeyFile: a key is 44
// characters, and anything much longer is not a key file (a device, a log
// mounted by mistake) and must not be read into memory whole.
const maxKeyFileSize = 1 << 10

// ReadPrivateKeyFile reads the private key a PrivateKeyFile names: a
// mounted Kubernetes or Docker secret holding what `wg genkey` prints, as
// `wg set IFACE private-key FILE` reads it. Symlinks are followed (a
// Kubernetes secret is a link into ..data); the target must be a regular
// file. Errors never echo the file's content.
func ReadPrivateKeyFile(path string) (SecretKey, error) {
	var k SecretKey
	if !filepath.IsAbs(path) {
		return k, fmt.Errorf("%q is not an absolute path (expected the absolute path of a key file, e.g. /run/secrets/wg-key)", path)
	}
	// Stat before opening: opening a FIFO would block until a writer came.
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return k, fmt.Errorf("%s does not exist (expected a file holding a private key, as `wgu genkey` prints)", path)
		}
		return k, fmt.Errorf("reading the key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return k, fmt.Errorf("%s is not a regular file (expected a file holding a private key, as `wgu genkey` prints)", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return k, fmt.Errorf("reading the key file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return k, fmt.Errorf("reading the key file %s: %w", path, err)
	}
	if len(b) > maxKeyFileSize {
		return k, fmt.Errorf("%s is longer than %d bytes (expected one private key, as `wgu genkey` prints)", path, maxKeyFileSize)
	}
	k, err = ParseSecretKey(trimSpace(string(b)))
	if err != nil {
		return k, fmt.Errorf("%s does not hold a valid key (expected 44 characters of base64, as `wgu genkey` prints)", path)
	}
	if k.IsZero() {
		return k, fmt.Errorf("%s holds an all-zero key (expected a private key, as `wgu genkey` prints)", path)
	}
	return k, nil
}
