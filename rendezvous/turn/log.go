package turn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// slogFactory hands pion's loggers that write to slog. pion reports a client's bad
// packet as an error ("Failed to handle datagram"), so anyone could flood error logs:
// its warnings and errors go to Info, everything else to Debug.
type slogFactory struct{ log *slog.Logger }

func (f slogFactory) NewLogger(scope string) logging.LeveledLogger {
	return slogLogger{f.log.With("component", "pion/"+scope)}
}

type slogLogger struct{ log *slog.Logger }

func (l slogLogger) emit(level slog.Level, msg string) { l.log.Log(context.Background(), level, msg) }

// emitf formats only when level is enabled: pion's allocations log two Debugf lines
// for every relayed datagram, and formatting them (addresses' String methods
// included) for a log that drops them was CPU on every packet.
func (l slogLogger) emitf(level slog.Level, format string, args []any) {
	if l.log.Enabled(context.Background(), level) {
		l.emit(level, fmt.Sprintf(format, args...))
	}
}

func (l slogLogger) Trace(msg string)                  { l.emit(slog.LevelDebug-4, msg) }
func (l slogLogger) Tracef(format string, args ...any) { l.emitf(slog.LevelDebug-4, format, args) }
func (l slogLogger) Debug(msg string)                  { l.emit(slog.LevelDebug, msg) }
func (l slogLogger) Debugf(format string, args ...any) { l.emitf(slog.LevelDebug, format, args) }
func (l slogLogger) Info(msg string)                   { l.emit(slog.LevelDebug, msg) }
func (l slogLogger) Infof(format string, args ...any)  { l.emitf(slog.LevelDebug, format, args) }
func (l slogLogger) Warn(msg string)                   { l.emit(slog.LevelInfo, msg) }
func (l slogLogger) Warnf(format string, args ...any)  { l.emitf(slog.LevelInfo, format, args) }
func (l slogLogger) Error(msg string)                  { l.emit(slog.LevelInfo, msg) }
func (l slogLogger) Errorf(format string, args ...any) { l.emitf(slog.LevelInfo, format, args) }
