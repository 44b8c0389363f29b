CREATE TABLE `plain` (
  `id` int(11) NOT NULL,
  `a` int(11) DEFAULT NULL,
  `b` int(11) DEFAULT NULL,
  `c` varchar(10) DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `ub` (`b`),
  KEY `ka` (`a`),
  KEY `kab` (`a`,`b` DESC),
  KEY `kc` (`c`) COMMENT 'idx on c'
) ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_swedish_ci