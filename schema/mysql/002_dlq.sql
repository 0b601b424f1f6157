-- Events parked by the consumers after their last retry (handlers: the DLQ handler writes here, `seckill dlq list`
-- reads and `seckill dlq redrive` re-publishes). One row per event id: a parked event redriven and parked again
-- is parked again in place.
CREATE TABLE IF NOT EXISTS tb_dlq (
  event_id       VARCHAR(64)  NOT NULL COMMENT 'message UUID (the event id)',
  event_type     VARCHAR(64)  NOT NULL COMMENT 'metadata "name"',
  payload        MEDIUMBLOB   NOT NULL,
  metadata       JSON         NOT NULL COMMENT 'message metadata as parked',
  reason         TEXT         NOT NULL COMMENT 'the last error (reason_poisoned)',
  handler        VARCHAR(128) NOT NULL COMMENT 'router handler that gave up (handler_poisoned)',
  original_topic VARCHAR(255) NOT NULL COMMENT 'topic the event was first consumed from; redrive publishes there',
  retries        INT          NOT NULL COMMENT 'broker-delayed retries made before parking',
  parked_at      DATETIME(3)  NOT NULL,
  redriven_at    DATETIME(3)  NULL COMMENT 'NULL while parked',
  PRIMARY KEY (event_id),
  KEY idx_parked (redriven_at, parked_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
