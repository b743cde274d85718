package corq

// #include "glue.h"
import "C"

import (
	"fmt"
	"os"
	"sync"
)

// LogLevel is the level of an engine log line.
type LogLevel int

// The levels of corq.h (CORQ_LOG_*).
const (
	LogError LogLevel = C.CORQ_LOG_ERROR
	LogWarn  LogLevel = C.CORQ_LOG_WARN
	LogInfo  LogLevel = C.CORQ_LOG_INFO
	LogDebug LogLevel = C.CORQ_LOG_DEBUG
)

func (l LogLevel) String() string {
	switch l {
	case LogError:
		return "error"
	case LogWarn:
		return "warn"
	case LogInfo:
		return "info"
	case LogDebug:
		return "debug"
	}
	return fmt.Sprintf("level(%d)", int(l))
}

// The log sinks, by key. corq gets the key as its callback's user pointer, never a Go pointer. A
// registry rather than runtime/cgo.Handle: a line may come from an engine thread after the sink
// was replaced or its engine closed, and a deleted cgo.Handle would panic there; a key that is not
// (or no longer) in the registry drops the line.
var logSinks = struct {
	sync.RWMutex
	next  uintptr
	sinks map[uintptr]func(LogLevel, string)
}{sinks: map[uintptr]func(LogLevel, string){}}

// SetLogCallback sends the engine's log lines to fn (nil stops them). fn runs on engine threads
// and on goroutines inside corq calls, while corq holds its log lock: it must be quick, safe for
// concurrent use, and must not call corq (that would deadlock). A panic in fn is recovered and
// reported on stderr (it cannot unwind through C).
func (e *Engine) SetLogCallback(fn func(level LogLevel, message string)) error {
	const op = "corq_set_log_callback"
	if err := e.enter(op); err != nil {
		return err
	}
	defer e.mu.RUnlock()
	logSinks.Lock()
	if e.sink == 0 {
		logSinks.next++
		e.sink = logSinks.next
	}
	sink := e.sink
	if fn == nil {
		delete(logSinks.sinks, sink)
		sink = 0
	} else {
		logSinks.sinks[sink] = fn
	}
	logSinks.Unlock()
	return check(C.gq_set_log(e.ptr, C.uintptr_t(sink)), op)
}

func dropLogSink(sink uintptr) {
	if sink != 0 {
		logSinks.Lock()
		delete(logSinks.sinks, sink)
		logSinks.Unlock()
	}
}

//export corqGoLog
func corqGoLog(sink C.uintptr_t, level C.int, message *C.char) {
	logSinks.RLock()
	fn := logSinks.sinks[uintptr(sink)]
	logSinks.RUnlock()
	if fn == nil {
		return
	}
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintf(os.Stderr, "corq: the log callback panicked: %v\n", p)
		}
	}()
	fn(LogLevel(level), C.GoString(message))
}
