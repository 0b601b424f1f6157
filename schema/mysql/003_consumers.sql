-- One row per running consumer process (seckill serve with consumers, seckill consume), refreshed every few
-- seconds. `seckill replay --in-place` refuses to run while any row is fresh.
CREATE TABLE IF NOT EXISTS tb_consumer_heartbeat (
  instance  VARCHAR(128) NOT NULL,
  seen_at   DATETIME(3)  NOT NULL,
  PRIMARY KEY (instance)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
