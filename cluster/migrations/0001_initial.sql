-- The record (docs/design.md, "The record"). Names are a contract with operators.
CREATE TABLE IF NOT EXISTS users (
  user_id        VARCHAR(36)  NOT NULL PRIMARY KEY,
  username       VARCHAR(64)  NOT NULL,
  password_hash  VARCHAR(255) NOT NULL,
  role           ENUM('buyer', 'admin') NOT NULL DEFAULT 'buyer',
  created_at     DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  UNIQUE KEY uq_users_username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS products (
  product_id   VARCHAR(36)   NOT NULL PRIMARY KEY,
  name         VARCHAR(200)  NOT NULL,
  description  TEXT          NOT NULL,
  image_url    VARCHAR(1000) NOT NULL DEFAULT '',
  created_at   DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS deals (
  deal_id         VARCHAR(36) NOT NULL PRIMARY KEY,
  product_id      VARCHAR(36) NOT NULL,
  price_cents     BIGINT      NOT NULL,
  stock           INT         NOT NULL,
  per_user_limit  INT         NOT NULL,
  starts_at       DATETIME(6) NOT NULL,
  ends_at         DATETIME(6) NOT NULL,
  created_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  KEY ix_deals_starts_at (starts_at),
  CONSTRAINT fk_deals_product FOREIGN KEY (product_id) REFERENCES products (product_id),
  CONSTRAINT ck_deals_stock CHECK (stock > 0),
  CONSTRAINT ck_deals_limit CHECK (per_user_limit >= 1),
  CONSTRAINT ck_deals_price CHECK (price_cents >= 0),
  CONSTRAINT ck_deals_window CHECK (ends_at > starts_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- No foreign keys from orders: the sink may see an order's events before the deal row
-- is visible to it, and it must never block the pipeline on that.
CREATE TABLE IF NOT EXISTS orders (
  order_id      VARCHAR(36) NOT NULL PRIMARY KEY,
  deal_id       VARCHAR(36) NOT NULL,
  user_id       VARCHAR(36) NOT NULL,
  quantity      INT         NOT NULL,
  amount_cents  BIGINT      NOT NULL,
  status        ENUM('reserved', 'paid', 'cancelled') NOT NULL,
  created_at    DATETIME(6) NOT NULL,
  pay_by        DATETIME(6) NOT NULL,
  paid_at       DATETIME(6) NULL,
  cancelled_at  DATETIME(6) NULL,
  KEY ix_orders_deal_status (deal_id, status),
  KEY ix_orders_user (user_id, deal_id),
  CONSTRAINT ck_orders_quantity CHECK (quantity > 0),
  CONSTRAINT ck_orders_paid_xor_cancelled CHECK (paid_at IS NULL OR cancelled_at IS NULL)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
