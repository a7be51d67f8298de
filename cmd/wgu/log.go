package main

import (
	"io"
	"log/slog"
	"os"
	"strings"
)

// newLogger builds the process logger from LOG_LEVEL, with wireguard-go's
// levels: silent, error, verbose (or debug); the default shows info.
func newLogger(w io.Writer) *slog.Logger { return newLoggerFrom(w, slog.LevelInfo) }

// newLoggerFrom is newLogger with another level for an unset LOG_LEVEL.
func newLoggerFrom(w io.Writer, level slog.Level) *slog.Logger {
	switch strings.ToLower(os.Getenv("LOG_LEVEL")) {
	case "silent":
		return slog.New(slog.DiscardHandler)
	case "error":
		level = slog.LevelError
	case "verbose", "debug":
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if os.Getenv("JOURNAL_STREAM") != "" {
		// Under systemd the journal stamps each line itself.
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
