CREATE TABLE `orders` (
  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `customer_id` int(11) NOT NULL,
  `qty` int(11) NOT NULL DEFAULT 1 COMMENT 'qty of orders',
  `price` decimal(10,2) NOT NULL,
  `total` decimal(12,2) GENERATED ALWAYS AS (`qty` * `price`) STORED,
  `note` varchar(200) DEFAULT 'qty, price` and ''x''',
  `we``ird` int(11) DEFAULT NULL,
  `orders` int(11) DEFAULT NULL COMMENT 'column named like table',
  `created` datetime DEFAULT current_timestamp() ON UPDATE current_timestamp(),
  PRIMARY KEY (`id`),
  UNIQUE KEY `uk_x` (`customer_id`,`we``ird`),
  KEY `idx_cust` (`customer_id`,`created`),
  KEY `idx_note` (`note`(10)),
  FULLTEXT KEY `ft_note` (`note`),
  CONSTRAINT `fk_cust` FOREIGN KEY (`customer_id`) REFERENCES `customers` (`id`) ON DELETE CASCADE,
  CONSTRAINT `chk_qty` CHECK (`qty` > 0 and `note` <> 'qty')
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci COMMENT='orders: id, qty, price'