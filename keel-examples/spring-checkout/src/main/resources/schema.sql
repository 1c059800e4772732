-- The checkout's tables, created at start-up (spring.sql.init). Portable SQL: SQLite and PostgreSQL alike.
-- Keel keeps its own tables (keel_*) in the same database and creates them itself.

CREATE TABLE IF NOT EXISTS customers (
    id      VARCHAR(64)  PRIMARY KEY,
    name    VARCHAR(200) NOT NULL,
    address VARCHAR(400)             -- NULL until the customer gives one: shipping waits for it
);

CREATE TABLE IF NOT EXISTS products (
    sku         VARCHAR(64)  PRIMARY KEY,
    name        VARCHAR(200) NOT NULL,
    price_cents BIGINT       NOT NULL CHECK (price_cents > 0),
    stock       INTEGER      NOT NULL CHECK (stock >= 0)
);

CREATE TABLE IF NOT EXISTS orders (
    id           VARCHAR(36) PRIMARY KEY,
    customer_id  VARCHAR(64) NOT NULL REFERENCES customers (id),
    sku          VARCHAR(64) NOT NULL REFERENCES products (sku),
    quantity     INTEGER     NOT NULL CHECK (quantity > 0),
    amount_cents BIGINT      NOT NULL
);

-- Written by the payments listener, in the delivery's transaction: one row per order.
CREATE TABLE IF NOT EXISTS payments (
    id           VARCHAR(36) PRIMARY KEY,
    order_id     VARCHAR(36) NOT NULL REFERENCES orders (id),
    amount_cents BIGINT      NOT NULL
);

-- Written by the shipping listener, in the delivery's transaction: one row per paid order.
CREATE TABLE IF NOT EXISTS shipments (
    id       VARCHAR(36)  PRIMARY KEY,
    order_id VARCHAR(36)  NOT NULL REFERENCES orders (id),
    address  VARCHAR(400) NOT NULL
);

INSERT INTO customers (id, name, address) VALUES
    ('ada', 'Ada Lovelace', '12 St James''s Square, London'),
    ('alan', 'Alan Turing', NULL)
ON CONFLICT (id) DO NOTHING;

INSERT INTO products (sku, name, price_cents, stock) VALUES
    ('kettle', 'Kettle', 3900, 1000),
    ('teapot', 'Teapot', 2450, 3)
ON CONFLICT (sku) DO NOTHING;
