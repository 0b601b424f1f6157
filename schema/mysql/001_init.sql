-- The seed's four tables plus the event store. Column names and keys are part of the contract (CONTRACT.md).
CREATE TABLE IF NOT EXISTS tb_seckill_product (
  id           BIGINT        NOT NULL,
  product_name VARCHAR(128)  NOT NULL,
  price        DECIMAL(10,2) NOT NULL,
  stock        INT           NOT NULL,
  version      INT           NOT NULL DEFAULT 0 COMMENT '+1 on every stock change',
  start_time   DATETIME(3)   NULL,
  end_time     DATETIME(3)   NULL,
  create_time  DATETIME(3)   NOT NULL,
  update_time  DATETIME(3)   NOT NULL,
  PRIMARY KEY (id),
  CONSTRAINT chk_product_stock CHECK (stock >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS tb_seckill_order (
  id           BIGINT        NOT NULL AUTO_INCREMENT,
  order_no     VARCHAR(32)   NOT NULL,
  user_id      BIGINT        NOT NULL,
  product_id   BIGINT        NOT NULL,
  product_name VARCHAR(128)  NOT NULL,
  price        DECIMAL(10,2) NOT NULL,
  quantity     INT           NOT NULL,
  status       TINYINT       NOT NULL DEFAULT 0 COMMENT '0 awaiting payment, 1 paid, -1 cancelled',
  create_time  DATETIME(3)   NOT NULL,
  update_time  DATETIME(3)   NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uk_order_no (order_no),
  KEY idx_user_product (user_id, product_id),
  KEY idx_product_status (product_id, status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS tb_stock_log (
  id           BIGINT        NOT NULL AUTO_INCREMENT,
  order_no     VARCHAR(32)   NOT NULL,
  product_id   BIGINT        NOT NULL,
  product_name VARCHAR(128)  NOT NULL,
  quantity     INT           NOT NULL,
  before_stock INT           NOT NULL,
  after_stock  INT           NOT NULL,
  type         TINYINT       NOT NULL COMMENT '1 deduct, 2 rollback',
  create_time  DATETIME(3)   NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uk_order_type (order_no, type),
  KEY idx_product (product_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS tb_user_seckill (
  id          BIGINT      NOT NULL AUTO_INCREMENT,
  user_id     BIGINT      NOT NULL,
  product_id  BIGINT      NOT NULL,
  order_no    VARCHAR(32) NOT NULL,
  create_time DATETIME(3) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uk_user_product (user_id, product_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS tb_event (
  seq          BIGINT      NOT NULL AUTO_INCREMENT,
  event_id     CHAR(36)    NOT NULL,
  event_type   VARCHAR(64) NOT NULL,
  aggregate_id VARCHAR(64) NOT NULL,
  payload      JSON        NOT NULL,
  occurred_at  DATETIME(3) NOT NULL,
  recorded_at  DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (seq),
  UNIQUE KEY uk_event_id (event_id),
  KEY idx_aggregate (aggregate_id),
  KEY idx_occurred_at (occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
