package rocketmqpubsub

import (
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/apache/rocketmq-client-go/v2/rlog"
)

var clientLogOnce sync.Once

// RedirectClientLogs sends the RocketMQ client's process-wide logs to logger: its errors as Error, its warnings
// as Debug and its chatty info and debug lines as Trace. Without a call, the first NewPublisher, NewSubscriber
// or EnsureTopic routes them to watermill.NopLogger, so nothing reaches stderr. Call it before creating any
// Publisher or Subscriber: the client reads its logger without synchronisation.
func RedirectClientLogs(logger watermill.LoggerAdapter) {
	clientLogOnce.Do(func() {})
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	rlog.SetLogger(clientLogger{logger: logger.With(watermill.LogFields{"provider": "rocketmq-client"})})
}

func quietClientLogs() {
	clientLogOnce.Do(func() { rlog.SetLogger(clientLogger{logger: watermill.NopLogger{}}) })
}

type clientLogger struct {
	logger watermill.LoggerAdapter
}

func (l clientLogger) Debug(msg string, fields map[string]interface{}) { l.logger.Trace(msg, fields) }
func (l clientLogger) Info(msg string, fields map[string]interface{})  { l.logger.Trace(msg, fields) }
func (l clientLogger) Warning(msg string, fields map[string]interface{}) {
	onClientWarning(msg, fields)
	l.logger.Debug(msg, fields)
}
func (l clientLogger) Error(msg string, fields map[string]interface{}) {
	l.logger.Error(msg, nil, fields)
}
func (l clientLogger) Fatal(msg string, fields map[string]interface{}) {
	l.logger.Error(msg, nil, fields)
}
func (l clientLogger) Level(string)            {}
func (l clientLogger) OutputPath(string) error { return nil }
