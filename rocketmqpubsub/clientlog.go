package rocketmqpubsub

import (
	"github.com/ThreeDotsLabs/watermill"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

// The client library logs through one process-wide logger (rlog), INFO and up to stderr by default, including a
// line per queue every few seconds. Importing this package discards those logs, before any client runs (the
// client reads its logger without synchronisation), until RedirectClientLogs routes them elsewhere.
func init() { rlog.SetLogger(clientLogger{logger: watermill.NopLogger{}}) }

// RedirectClientLogs sends the RocketMQ client library's logs to logger: its errors as Error, its warnings as
// Debug and its chatty info and debug lines as Trace. The client's logger is process-wide and read without
// synchronisation: call this once, in main, before creating any Publisher or Subscriber. A nil logger discards
// the logs again.
func RedirectClientLogs(logger watermill.LoggerAdapter) {
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	rlog.SetLogger(clientLogger{logger: logger.With(watermill.LogFields{"provider": "rocketmq-client"})})
}

type clientLogger struct {
	logger watermill.LoggerAdapter
}

func (l clientLogger) Debug(msg string, fields map[string]interface{})   { l.logger.Trace(msg, fields) }
func (l clientLogger) Info(msg string, fields map[string]interface{})    { l.logger.Trace(msg, fields) }
func (l clientLogger) Warning(msg string, fields map[string]interface{}) { l.logger.Debug(msg, fields) }
func (l clientLogger) Error(msg string, fields map[string]interface{}) {
	l.logger.Error(msg, nil, fields)
}
func (l clientLogger) Fatal(msg string, fields map[string]interface{}) {
	l.logger.Error(msg, nil, fields)
}
func (l clientLogger) Level(string)            {}
func (l clientLogger) OutputPath(string) error { return nil }
