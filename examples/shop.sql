-- A small but realistic sample database for the demo (`make demo` loads it into the source).
-- Runs on MariaDB 10.2+ and MySQL 8.0+ (rows come from a helper table of numbers, dropped at the end).
-- About 11,000 rows: utf8mb4 with emoji, decimals, dates, JSON, NULLs, a string primary key,
-- a composite primary key, a table without a primary key, foreign keys, a view, a function,
-- a procedure and triggers.

DROP DATABASE IF EXISTS shop;
CREATE DATABASE shop CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE shop;

CREATE TABLE customers (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  email       VARCHAR(191) NOT NULL,
  full_name   VARCHAR(100) NOT NULL,
  country     CHAR(2) NOT NULL DEFAULT 'FR',
  birthday    DATE NULL,
  balance     DECIMAL(12,2) NOT NULL DEFAULT 0.00,
  preferences JSON NULL CHECK (JSON_VALID(preferences)),
  is_vip      TINYINT(1) NOT NULL DEFAULT 0,
  created_at  DATETIME(3) NOT NULL,
  UNIQUE KEY uk_email (email),
  KEY idx_country (country)
) ENGINE=InnoDB;

-- A string primary key.
CREATE TABLE products (
  sku         VARCHAR(32) NOT NULL PRIMARY KEY,
  name        VARCHAR(200) NOT NULL,
  description TEXT NULL,
  price       DECIMAL(10,2) NOT NULL,
  weight_kg   FLOAT NULL,
  attributes  JSON NULL CHECK (JSON_VALID(attributes)),
  status      ENUM('active','discontinued') NOT NULL DEFAULT 'active',
  updated_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
) ENGINE=InnoDB;

CREATE TABLE orders (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  customer_id BIGINT UNSIGNED NOT NULL,
  status      ENUM('new','paid','shipped','cancelled') NOT NULL DEFAULT 'new',
  ordered_at  DATETIME NOT NULL,
  total       DECIMAL(12,2) NOT NULL DEFAULT 0.00,
  note        TEXT NULL,
  KEY idx_customer (customer_id, ordered_at),
  CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) REFERENCES customers (id)
) ENGINE=InnoDB;

-- A composite primary key.
CREATE TABLE order_items (
  order_id   BIGINT UNSIGNED NOT NULL,
  line_no    SMALLINT UNSIGNED NOT NULL,
  sku        VARCHAR(32) NOT NULL,
  quantity   INT NOT NULL,
  unit_price DECIMAL(10,2) NOT NULL,
  PRIMARY KEY (order_id, line_no),
  KEY idx_sku (sku),
  CONSTRAINT fk_items_order FOREIGN KEY (order_id) REFERENCES orders (id),
  CONSTRAINT fk_items_product FOREIGN KEY (sku) REFERENCES products (sku)
) ENGINE=InnoDB;

-- No primary key (and some identical rows).
CREATE TABLE page_views (
  customer_id BIGINT UNSIGNED NULL,
  url         VARCHAR(255) NOT NULL,
  viewed_at   DATETIME NOT NULL,
  user_agent  VARCHAR(100) NULL
) ENGINE=InnoDB;

CREATE VIEW customer_totals AS
  SELECT c.id, c.full_name, c.country, COUNT(o.id) AS orders, IFNULL(SUM(o.total), 0) AS spent
  FROM customers c LEFT JOIN orders o ON o.customer_id = c.id AND o.status <> 'cancelled'
  GROUP BY c.id, c.full_name, c.country;

DELIMITER //

CREATE FUNCTION order_total(p_order BIGINT UNSIGNED) RETURNS DECIMAL(12,2)
  READS SQL DATA
BEGIN
  RETURN (SELECT IFNULL(SUM(quantity * unit_price), 0) FROM order_items WHERE order_id = p_order);
END//

CREATE PROCEDURE top_customers(IN p_limit INT)
  READS SQL DATA
BEGIN
  SELECT id, full_name, spent FROM customer_totals ORDER BY spent DESC, id LIMIT p_limit;
END//

CREATE TRIGGER customers_normalize_email BEFORE INSERT ON customers FOR EACH ROW
BEGIN
  SET NEW.email = LOWER(TRIM(NEW.email));
END//

CREATE TRIGGER order_items_add_to_total AFTER INSERT ON order_items FOR EACH ROW
BEGIN
  UPDATE orders SET total = total + NEW.quantity * NEW.unit_price WHERE id = NEW.order_id;
END//

DELIMITER ;

-- The numbers 1 to 10,000 to generate rows from (portable: MySQL has no SEQUENCE engine, and a
-- recursive CTE would need a MySQL-only cte_max_recursion_depth). Dropped at the end.
CREATE TABLE seq_digits (d TINYINT NOT NULL PRIMARY KEY);
INSERT INTO seq_digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);
CREATE TABLE seq (seq INT NOT NULL PRIMARY KEY);
INSERT INTO seq
SELECT 1 + a.d + 10 * b.d + 100 * c.d + 1000 * e.d
FROM seq_digits a CROSS JOIN seq_digits b CROSS JOIN seq_digits c CROSS JOIN seq_digits e;

-- 1,000 customers.
INSERT INTO customers (email, full_name, country, birthday, balance, preferences, is_vip, created_at)
SELECT
  CONCAT('  Customer', seq, '@Example.COM '),
  CONCAT(ELT(1 + seq % 8, 'Zoë', 'José', '李', 'Ærøskøbing', 'Søren', 'Ana-María', 'Łukasz', 'Nguyễn'),
         ' ', ELT(1 + seq % 5, 'Smith 😀', 'Müller', 'O''Brien 🚀', 'Dupont', 'Ñúñez 🎉'), ' #', seq),
  ELT(1 + seq % 6, 'FR', 'DE', 'ES', 'JP', 'US', 'BR'),
  IF(seq % 7 = 0, NULL, DATE('1950-01-01') + INTERVAL (seq * 37) % 20000 DAY),
  ROUND((seq * 7919) % 100000 / 100, 2) - 100,
  IF(seq % 5 = 0, NULL,
     JSON_OBJECT('newsletter', seq % 2 = 0, 'langs', JSON_ARRAY(ELT(1 + seq % 3, 'fr', 'en', 'ja')),
                 'note', IF(seq % 11 = 0, 'a "quoted" value\\with backslash', NULL))),
  seq % 10 = 0,
  TIMESTAMP('2021-01-01 08:00:00') + INTERVAL seq * 3631 SECOND + INTERVAL seq % 1000 * 1000 MICROSECOND
FROM seq WHERE seq <= 1000;

-- 200 products.
INSERT INTO products (sku, name, description, price, weight_kg, attributes, status, updated_at)
SELECT
  CONCAT(ELT(1 + seq % 4, 'TOY', 'BOOK', 'TEA', 'MUG'), '-', LPAD(seq, 5, '0')),
  CONCAT(ELT(1 + seq % 4, 'Robot ', 'Novel ', 'Green tea 🍵 ', 'Mug ☕ '), seq),
  IF(seq % 9 = 0, NULL, REPEAT(CONCAT('Line ', seq, ' of a long description. '), 1 + seq % 20)),
  ROUND(0.99 + (seq * 131) % 20000 / 100, 2),
  IF(seq % 4 = 2, NULL, (seq % 50) / 8),
  JSON_OBJECT('color', ELT(1 + seq % 3, 'red', 'blue', 'vert émeraude'), 'sizes', JSON_ARRAY(seq % 3, seq % 5)),
  IF(seq % 17 = 0, 'discontinued', 'active'),
  TIMESTAMP('2024-03-01 00:00:00') + INTERVAL seq HOUR
FROM seq WHERE seq <= 200;

-- 2,000 orders; their totals come from the trigger on order_items.
INSERT INTO orders (customer_id, status, ordered_at, note)
SELECT
  1 + (seq * 37) % 1000,
  ELT(1 + seq % 4, 'new', 'paid', 'shipped', 'cancelled'),
  TIMESTAMP('2023-01-01') + INTERVAL seq * 4327 SECOND,
  IF(seq % 3 = 0, CONCAT('Leave at the door 📦 (#', seq, ')'), NULL)
FROM seq WHERE seq <= 2000;

-- About 5,000 order lines.
INSERT INTO order_items (order_id, line_no, sku, quantity, unit_price)
SELECT o.seq, l.seq, p.sku, 1 + (o.seq + l.seq) % 4, p.price
FROM seq o  -- the order ids (not the orders table: the trigger updates it)
JOIN seq l ON l.seq <= 1 + o.seq % 4
JOIN products p ON CAST(SUBSTRING_INDEX(p.sku, '-', -1) AS UNSIGNED) = 1 + (o.seq * 7 + l.seq) % 200
WHERE o.seq <= 2000;

-- 3,000 page views, without a key; every 100th is recorded twice.
INSERT INTO page_views (customer_id, url, viewed_at, user_agent)
SELECT
  IF(seq % 4 = 0, NULL, 1 + seq % 1000),
  CONCAT('/products/', ELT(1 + seq % 4, 'toy', 'book', 'tea', 'mug'), '?ref=', seq % 13, '&q=caf%C3%A9'),
  TIMESTAMP('2024-06-01') + INTERVAL seq * 61 SECOND,
  ELT(1 + seq % 3, 'Mozilla/5.0', NULL, 'curl/8.0')
FROM seq WHERE seq <= 2970;
INSERT INTO page_views SELECT * FROM page_views ORDER BY viewed_at LIMIT 30;

DROP TABLE seq, seq_digits;
