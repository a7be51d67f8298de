package config

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFileSynced replaces path with data as wg-quick's save does: into a
// new file beside it, flushed to disk with sync before it is renamed over
// path, so that a crash leaves the old file or the new one, never a
// truncated one. sync is (*os.File).Sync; tests watch the order with it.
func WriteFileSynced(path string, data []byte, perm os.FileMode, sync func(*os.File) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := sync(f); err != nil {
		return fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	// The rename itself is durable once the directory is synced.
	if d, err := os.Open(dir); err == nil {
		sync(d)
		d.Close()
	}
	return nil
}
